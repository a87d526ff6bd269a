# syntax=docker/dockerfile:1
# tern-lmtpd: LMTP (2424) and inbound SMTP (2525) delivery front-end.
#
# Build from the repository root (the build context is the whole source tree):
#   docker build -f docker/tern-lmtpd.Dockerfile -t tern/lmtpd .
# Every Dockerfile in docker/ has the same builder stage; only the target differs.

# ---------------------------------------------------------------------------------------
# builder: Debian's toolchain and -dev packages, then CMake + Ninja for this image's binaries
FROM debian:bookworm AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config \
        protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev \
        libabsl-dev libssl-dev libpqxx-dev libhiredis-dev prometheus-cpp-dev \
        libgtest-dev libgmock-dev libargon2-dev libasio-dev \
        nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG CMAKE_BUILD_TYPE=RelWithDebInfo
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE} -DTERN_BUILD_TESTS=OFF \
 && cmake --build build --target tern-lmtpd

# ---------------------------------------------------------------------------------------
# runtime: only the shared libraries the binaries link against
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates \
        libabsl20220623 \
        libgrpc++1.51 \
        libhiredis0.14 \
        libprometheus-cpp-core1.0 \
        libprometheus-cpp-pull1.0 \
        libprotobuf32 \
        libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tern \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin tern
COPY --from=builder /src/build/services/lmtp/server/tern-lmtpd /usr/local/bin/tern-lmtpd
# Fail the image build, not the first start, if a runtime library is missing above.
RUN for bin in /usr/local/bin/*; do \
      if ldd "$bin" | grep -q 'not found'; then ldd "$bin"; exit 1; fi; \
    done

# Inside a container the services must listen on all interfaces; the rest of the
# configuration comes from the environment (see helm/tern/values.yaml).
ENV TERN_HTTP_LISTEN=0.0.0.0:9106 \
    TERN_LMTP_LISTEN=0.0.0.0:2424 \
    TERN_SMTP_LISTEN=0.0.0.0:2525
USER 10001:10001
EXPOSE 2424 2525 9106
ENTRYPOINT ["/usr/local/bin/tern-lmtpd"]
