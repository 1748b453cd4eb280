// The jobs list: polls the progress of the jobs still queued or running, every 2 s, until none is.
const table = document.getElementById("jobs");
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

function unfinished() {
  return [...table.querySelectorAll("tr[data-job]")]
    .filter((row) => !FINISHED.has(row.querySelector(".job-state").dataset.state))
    .map((row) => row.dataset.job);
}

async function poll() {
  const ids = unfinished();
  if (!ids.length) return;
  try {
    const response = await fetch(`${table.dataset.statusUrl}?ids=${ids.join(",")}`, { headers: { Accept: "application/json" } });
    if (response.ok) {
      for (const job of (await response.json()).jobs) {
        const row = table.querySelector(`tr[data-job="${job.id}"]`);
        const state = row.querySelector(".job-state");
        state.dataset.state = job.state;
        state.textContent = job.state;
        row.querySelector(".job-progress").value = job.percent;
        row.querySelector(".job-count").textContent = job.total ? `${job.done} / ${job.total}` : `${job.done}`;
      }
    }
  } catch {
    // The server restarting: the next poll tries again.
  }
  setTimeout(poll, 2000);
}

if (table) setTimeout(poll, 1000);
