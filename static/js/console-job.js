// One job's page: polls its state, progress, summary and log every second until it has finished.
const box = document.getElementById("job");
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const $ = (id) => document.getElementById(id);

function show(job) {
  const state = $("job-state");
  state.dataset.state = job.state;
  state.textContent = job.state;
  $("job-progress").value = job.percent;
  $("job-percent").textContent = `${job.percent}%`;
  $("job-count").textContent = job.total ? `${job.done} / ${job.total}` : `${job.done}`;
  $("job-summary").textContent = job.summary;
  const log = $("job-log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = job.log;
  if (atEnd) log.scrollTop = log.scrollHeight;
  $("job-error").textContent = job.error;
  $("job-error").hidden = !job.error;
  $("job-download").hidden = !job.download;
  $("job-cancel").hidden = job.finished;
  if (job.cancel_requested && !job.finished) $("job-cancel-note").textContent = "cancel asked for; it stops at its next step";
}

async function poll() {
  try {
    const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const job = await response.json();
      show(job);
      if (FINISHED.has(job.state)) return;
    }
  } catch {
    // The server restarting: the next poll tries again.
  }
  setTimeout(poll, 1000);
}

if (box && !FINISHED.has($("job-state").dataset.state)) setTimeout(poll, 500);
