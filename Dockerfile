# CaseRoom's image: the product alone (the sandbox and its emulators are not in it), run by an unprivileged user.
#   docker build -t caseroom .
#   docker run -p 8000:8000 --env-file caseroom.env caseroom          # one process on SQLite, in the volume
# compose.yaml runs it scaled out on PostgreSQL (README, Scale-out).

# Build the product's wheel and every dependency's, so the final image needs no compiler and no pip cache.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot bot
COPY handlers handlers
COPY integrations integrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels caseroom \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/caseroom --create-home caseroom
USER 10001:10001
WORKDIR /var/lib/caseroom
# The sandbox is not installed here: with no credentials, say so instead of looking for it.
ENV CASEROOM_SANDBOX=false \
    CASEROOM_DATABASE_URL=sqlite:////var/lib/caseroom/caseroom.db
VOLUME /var/lib/caseroom
EXPOSE 8000
# /healthz answers 200 while the process serves and reaches its database, 503 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["caseroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
