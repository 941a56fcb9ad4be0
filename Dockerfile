# mt on CUDA: PyTorch, CUDA and cuDNN come from the official PyTorch image, pinned by tag.
#
#   docker build --build-arg UID=$(id -u) --build-arg GID=$(id -g) -t mt .
#   mkdir -p outputs data
#   docker run --gpus all --ipc=host -v $PWD/outputs:/app/outputs -v $PWD/data:/data mt \
#       python train.py experiment=wmt14_en_de
#
# /app/outputs links to the volume /outputs (run directories) and /app/data to the volume /data
# (data/cache: prepared corpora; huggingface/ and sacrebleu/: downloads), so the relative paths of
# conf/ land in the volumes without overrides. Details: docs/gpu.md.
ARG BASE_IMAGE=pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

# The user that runs training; build with your own ids so files in bind mounts belong to you.
ARG UID=1000
ARG GID=1000

ENV PYTHONUNBUFFERED=1 \
    HF_HOME=/data/huggingface \
    SACREBLEU=/data/sacrebleu

WORKDIR /app

# The base image's torch satisfies torch>=2.4, so pip keeps it and installs only the rest.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && rm -rf build src/*.egg-info

COPY conf ./conf
COPY scripts ./scripts
COPY train.py translate.py evaluate.py ./

# data/ and outputs/ are links into the volumes: train.py's relative paths need no override.
RUN (getent group "${GID}" || groupadd --gid "${GID}" mt) \
    && useradd --create-home --uid "${UID}" --gid "${GID}" --shell /bin/bash mt \
    && mkdir -p /data/cache /outputs \
    && ln -s /data /app/data \
    && ln -s /outputs /app/outputs \
    && chown -R "${UID}:${GID}" /data /outputs

USER ${UID}:${GID}
VOLUME ["/data", "/outputs"]

CMD ["python", "train.py", "--help"]
