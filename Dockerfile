# SafeTwin image for docker-compose.yml: one image, every role (`safetwin run --role ...`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p safetwin && touch safetwin/__init__.py \
    && pip install --no-cache-dir . && pip uninstall -y safetwin && rm -rf safetwin build
COPY . .
# The source tree is the code (PYTHONPATH): migrations and data files come with it as they are.
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --home /app safetwin && mkdir -p /app/var && chown safetwin /app/var
USER safetwin
EXPOSE 8050
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8050/api/v1/health', timeout=4)"
CMD ["safetwin", "run"]
