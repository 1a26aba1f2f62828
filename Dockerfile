# One image for the API and the workers; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY optim_core ./optim_core
COPY optrack ./optrack
COPY service ./service
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENV OPTRACK_DATA_DIR=/data
EXPOSE 8000
CMD ["optrack", "serve", "--host", "0.0.0.0", "--port", "8000"]
