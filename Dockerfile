# The app's image: the web server, every worker, beat and Flower run from it (compose.yaml).
#   docker build -t face-annotator .                                   # torch's CPU wheel
#   docker build -t face-annotator-cuda --build-arg TORCH_VARIANT=cu128 .   # the CUDA 12.8 wheel (GPU worker)
FROM python:3.11-slim

# torch comes from PyTorch's own index: cpu (small, no CUDA libraries) unless a CUDA variant is named
# (cu126, cu128, ...: one the GPU box's driver supports); TORCH_INDEX overrides the whole URL (a mirror).
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}
# requirements.txt: everything; requirements-web.txt: a web-only image (no torch, OpenCV, dlib).
ARG REQUIREMENTS=requirements.txt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

# OpenCV's and torch's shared libraries that the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-web.txt ./
# torch first, from the chosen index, at the version requirements.txt pins (2.13.0+cpu satisfies
# torch==2.13.0, so the second install keeps it).
RUN torch_pin="$(grep -h '^torch==' "$REQUIREMENTS" || true)" \
    && if [ -n "$torch_pin" ]; then pip install --index-url "$TORCH_INDEX" "$torch_pin"; fi \
    && pip install -r "$REQUIREMENTS"

COPY . .
# whitenoise serves the collected, compressed static files; settings need a key to load (not kept).
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --user-group --home-dir /app/var --no-create-home app \
    && mkdir -p /app/var/media /app/var/data \
    && chown -R app:app /app/var

USER app
EXPOSE 8000 5555
CMD ["gunicorn", "--config", "python:annotator.config.gunicorn", "annotator.config.wsgi"]
