// Package packaging holds the Debian package of Postern: the build script
// (build-deb.sh, run by `make deb`), the maintainer scripts, the systemd
// unit with its sysusers.d and tmpfiles.d files, and the AppArmor profile.
// Its Go test builds the package and checks it (deb_test.go).
package packaging
