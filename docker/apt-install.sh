#!/bin/sh
# docker/apt-install.sh — apt-get install inside an image build, through the
# build host's apt configuration when scripts/images.sh mounts it at
# /run/host-apt (podman build -v /etc/apt:/run/host-apt:ro): the host's
# sources and Acquire:: settings serve this one RUN and are never written into
# the image. Without the mount (docker build elsewhere) the image's own
# sources are used. Leaves no package lists behind.
# usage (Dockerfile): RUN --mount=type=bind,source=docker/apt-install.sh,target=/apt-install sh /apt-install PKG...
set -eu
[ $# -gt 0 ] || { echo "apt-install: no package given" >&2; exit 2; }
opts="-q -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0"
if [ -d /run/host-apt ]; then
  opts="$opts -o Dir::Etc::SourceList=/run/host-apt/sources.list"
  opts="$opts -o Dir::Etc::SourceParts=/run/host-apt/sources.list.d -o Dir::Etc::Parts=/run/host-apt/apt.conf.d"
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # $opts is a list of words without spaces
apt-get $opts update >/dev/null
# shellcheck disable=SC2086
apt-get $opts -y install "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old
