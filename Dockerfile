# syntax=docker/dockerfile:1
# GPU-capable runtime image: the PyTorch CUDA runtime image already carries a CUDA build of
# torch, so installing tweetbot adds only the pure-Python dependencies on top.
ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TWEETBOT_CONFIG=/data/config.toml \
    HF_HOME=/models/.hf-cache
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 tweetbot \
    && mkdir -p /data /models \
    && chown tweetbot:tweetbot /data /models
# The fast decoder's native int8 kernels (bot/generation/native.py), built once into the bot
# user's cache so that the running image needs no compiler; CPUs without AVX-512 VNNI ignore it.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && runuser -u tweetbot -- env HOME=/home/tweetbot "$(command -v python)" -m bot.generation.native \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
USER tweetbot
WORKDIR /data
VOLUME ["/data", "/models"]
# The daemon shuts down gracefully on SIGTERM (finishes or stops the job in hand, closes the DB).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["tweetbot", "health"]
ENTRYPOINT ["tweetbot"]
CMD ["run"]
