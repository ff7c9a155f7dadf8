FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY twin twin
COPY rules rules
COPY actuators actuators
COPY vision vision
COPY dashboard dashboard
COPY simulators simulators
COPY store store
COPY api api
COPY safetwin safetwin
COPY bench bench
COPY data data
RUN pip install --no-cache-dir . && useradd --system --home /app safetwin && mkdir -p /app/var \
    && chown safetwin /app/var
USER safetwin
EXPOSE 8050
CMD ["safetwin", "run"]
