# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dialin-bridge ./cmd/dialin-bridge \
 && mkdir -p /out/data

# A static binary on distroless: no shell, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dialin-bridge /usr/local/bin/dialin-bridge
COPY --from=build --chown=65532:65532 /out/data /data
ENV DIALIN_DATA_DIR=/data
VOLUME /data
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dialin-bridge"]
