#!/bin/bash
# EMR bootstrap action of `datalab train flights --engine spark --runner emr`
# (flights/emr): installs the datalab binary the ingest step runs on every
# node. Argument: the binary's s3:// URI (s3://BUCKET/bin/datalab).
set -euo pipefail
src="${1:?usage: bootstrap-datalab.sh s3://BUCKET/bin/datalab}"
tmp="$(mktemp)"
aws s3 cp --only-show-errors "$src" "$tmp"
sudo install -m 0755 "$tmp" /usr/local/bin/datalab
rm -f "$tmp"
/usr/local/bin/datalab --version
