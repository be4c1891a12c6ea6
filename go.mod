module postern

go 1.26.0

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/cretz/bine v0.2.0
	github.com/emersion/go-imap/v2 v2.0.0-beta.8
	github.com/emersion/go-message v0.18.2
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/klauspost/compress v1.20.4
	github.com/leonelquinteros/gotext v1.7.2
	github.com/sethvargo/go-diceware v0.6.0
	go.etcd.io/bbolt v1.5.0
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
	golang.org/x/text v0.44.0
)

require github.com/cloudflare/circl v1.6.5 // indirect
