# One image for the API and the workers; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY optim_core ./optim_core
COPY optrack ./optrack
COPY service ./service
COPY worker ./worker
COPY migrations ./migrations
# The 'fast' extra (numba) for the workers' fused optimizer steps; the second command fills
# numba's cache in the image so that a new worker process does not compile them.
RUN pip install --no-cache-dir '.[fast]' && python -m optim_core.kernels
ENV OPTRACK_DATA_DIR=/data
EXPOSE 8000
CMD ["optrack", "serve", "--host", "0.0.0.0", "--port", "8000"]
