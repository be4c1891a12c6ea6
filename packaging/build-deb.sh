#!/bin/sh
# Builds postern_VERSION_amd64.deb with dpkg-deb into OUTDIR (default: bin/).
# Usage: packaging/build-deb.sh [OUTDIR]   (make deb)
set -eu
cd "$(dirname "$0")/.."
out=${1:-bin}
GO=${GO:-go}

# relay/admin's Version, with Debian's "~" for a pre-release ("0.1.0-dev"
# sorts before "0.1.0" only as "0.1.0~dev").
upstream=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' relay/admin/admin.go)
[ -n "$upstream" ] || { echo "build-deb: no Version in relay/admin/admin.go" >&2; exit 1; }
version=$(printf '%s' "$upstream" | tr '-' '~')
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

mkdir -p "$out"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
	"$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$root/etc/apparmor.d" \
	"$root/usr/share/doc/postern" "$root/usr/share/man/man8"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $GO build -trimpath -buildmode=pie -ldflags='-s -w' \
	-o "$root/usr/bin/relay" ./relay/cmd/relay
chmod 0755 "$root/usr/bin/relay"
install -m 0644 packaging/systemd/postern.service "$root/lib/systemd/system/postern.service"
install -m 0644 packaging/systemd/postern.sysusers "$root/usr/lib/sysusers.d/postern.conf"
install -m 0644 packaging/systemd/postern.tmpfiles "$root/usr/lib/tmpfiles.d/postern.conf"
install -m 0644 packaging/apparmor/postern "$root/etc/apparmor.d/postern"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/postern/copyright"
install -m 0644 README.md docs/admin.md "$root/usr/share/doc/postern/"
date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$date/" packaging/debian/changelog.in |
	gzip -n -9 >"$root/usr/share/doc/postern/changelog.gz"
gzip -n -9 <packaging/debian/relay.8 >"$root/usr/share/man/man8/relay.8.gz"
chmod 0644 "$root/usr/share/doc/postern/changelog.gz" "$root/usr/share/man/man8/relay.8.gz"

for s in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/apparmor.d/postern >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/debian/control.in >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb="$out/postern_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
