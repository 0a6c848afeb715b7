# claude-any in a container (README, "Running it as a service"):
#   docker build -t claude-any .
#   docker run -p 8082:8082 -v "$PWD/config.yaml:/etc/claude-any/config.yaml:ro" \
#     -e CLAUDE_ANY_TOKEN -e OPENAI_API_KEY claude-any
# It binds 0.0.0.0 (a container's loopback is unreachable from outside), so the config must set
# `server: {auth_token: ${CLAUDE_ANY_TOKEN}}`: without a token the gateway refuses a non-loopback address.
FROM python:3.11-slim

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin claude-any

WORKDIR /opt/claude-any
COPY pyproject.toml README.md ./
COPY claude_any ./claude_any
RUN pip install --no-cache-dir . && rm -rf /opt/claude-any/build

USER claude-any
EXPOSE 8082
ENTRYPOINT ["claude-any"]
CMD ["run", "/etc/claude-any/config.yaml", "--host", "0.0.0.0", "--port", "8082"]
