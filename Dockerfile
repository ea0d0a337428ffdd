# syntax=docker/dockerfile:1
# The Weir image: one statically linked `weir` binary, CA certificates and a non-root user, nothing
# else. Build: docker build -t weir .
# Run:   docker run --read-only --tmpfs /tmp -v weir-data:/data -p 4200:4200 weir server start
# crates/weir-cli/tests/it/image.rs runs the same binary in a root holding only what this image
# holds, with the ENV and USER of the final stage below.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and build products between builds (BuildKit); the binary is
# copied out of them. glibc's libc.a comes with the image's libc6-dev.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    mkdir -p /out/usr/local/bin /out/etc/ssl/certs /out/tmp /out/data \
 && cp "$(scripts/build-static.sh release)" /out/usr/local/bin/weir \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/data:/sbin/nologin' > /out/etc/passwd \
 && echo 'nonroot:x:65532:' > /out/etc/group \
 && chown 65532:65532 /out/data \
 && chmod 1777 /out/tmp

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="weir" \
      org.opencontainers.image.description="Weir: a Prefect-3-compatible workflow orchestrator (server, workers, command line) in one static binary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /
COPY --from=build --chown=65532:65532 /out/data /data
# WEIR_HOME holds the SQLite database: mount a volume at /data. /tmp is where the process worker
# makes flow runs' working folders: mount a tmpfs or emptyDir there when the root is read-only.
ENV WEIR_HOME=/data \
    HOME=/data \
    TMPDIR=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    WEIR_SERVER_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 4200
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/weir"]
CMD ["--help"]
