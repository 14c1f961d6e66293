# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

COPY . .

# The registry, git and target caches are BuildKit cache mounts, so the binary
# has to be copied out of target/ within the same RUN step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin keyholder \
 && install -D -m 0755 target/release/keyholder /out/keyholder

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 keyholder \
 && useradd --system --uid 10001 --gid keyholder --home-dir /app --shell /usr/sbin/nologin keyholder \
 && mkdir -p /app \
 && chown keyholder:keyholder /app

COPY --from=builder /out/keyholder /usr/local/bin/keyholder

WORKDIR /app
USER keyholder:keyholder

EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/keyholder"]
CMD ["serve"]
