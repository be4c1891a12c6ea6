package store

import (
	"errors"
	"os"
)

var errTODO = errors.New("store: not implemented yet")

// Store is an open instance.
type Store struct{ dir string }

// BlobWriter writes one blob.
type BlobWriter struct{}

func Init(dir string, opts Options) (*Store, error) { return nil, errTODO }
func Open(dir string, opts Options) (*Store, error) { return nil, errTODO }
func (s *Store) Close() error                       { return errTODO }
func (s *Store) Dir() string                        { return s.dir }
func (s *Store) Salt() []byte                       { return nil }
func (s *Store) GetMeta(key string) ([]byte, error) { return nil, errTODO }
func (s *Store) SetMeta(key string, v []byte) error { return errTODO }
func (s *Store) Schema() (int, []string)            { return 0, nil }
func (s *Store) Compact() error                     { return errTODO }

func (s *Store) AddJournalist(j Journalist) error                               { return errTODO }
func (s *Store) Journalist(name string) (Journalist, error)                     { return Journalist{}, errTODO }
func (s *Store) Journalists() ([]Journalist, error)                             { return nil, errTODO }
func (s *Store) UpdateJournalist(name string, fn func(*Journalist) error) error { return errTODO }
func (s *Store) RemoveJournalist(name string) error                             { return errTODO }

func (s *Store) CreateSource(src Source) error                { return errTODO }
func (s *Store) Source(id []byte) (Source, error)             { return Source{}, errTODO }
func (s *Store) SourceByAddress(addr string) (Source, error)  { return Source{}, errTODO }
func (s *Store) SourceByDesignation(d string) (Source, error) { return Source{}, errTODO }
func (s *Store) Sources() ([]SourceSummary, error)            { return nil, errTODO }
func (s *Store) TouchSource(id []byte) error                  { return errTODO }
func (s *Store) DeleteSource(id []byte) error                 { return errTODO }

func (s *Store) NewBlob() (*BlobWriter, error)        { return nil, errTODO }
func (w *BlobWriter) Write(p []byte) (int, error)     { return 0, errTODO }
func (w *BlobWriter) Commit() (BlobRef, error)        { return BlobRef{}, errTODO }
func (w *BlobWriter) Abort() error                    { return errTODO }
func (s *Store) DiscardBlob(id string) error          { return errTODO }
func (s *Store) OpenBlob(id string) (*os.File, error) { return nil, errTODO }

func (s *Store) Deliver(d Delivery) error                     { return errTODO }
func (s *Store) AddReply(r Reply) (string, error)             { return "", errTODO }
func (s *Store) Replies(sourceID []byte) ([]Reply, error)     { return nil, errTODO }
func (s *Store) DeleteReply(sourceID []byte, id string) error { return errTODO }

func (s *Store) Mailboxes(j string) ([]Mailbox, error)         { return nil, errTODO }
func (s *Store) Mailbox(j, name string) (Mailbox, error)       { return Mailbox{}, errTODO }
func (s *Store) CreateMailbox(j, name string) error            { return errTODO }
func (s *Store) DeleteMailbox(j, name string) error            { return errTODO }
func (s *Store) RenameMailbox(j, from, to string) error        { return errTODO }
func (s *Store) SetSubscribed(j, name string, on bool) error   { return errTODO }
func (s *Store) Messages(j, mailbox string) ([]Message, error) { return nil, errTODO }
func (s *Store) SetFlags(j, mailbox string, uids []uint32, op FlagOp, flags []string) error {
	return errTODO
}
func (s *Store) Expunge(j, mailbox string, uids []uint32) error { return errTODO }
func (s *Store) Copy(j, from string, uids []uint32, to string) ([]uint32, error) {
	return nil, errTODO
}
func (s *Store) Move(j, from string, uids []uint32, to string) ([]uint32, error) {
	return nil, errTODO
}
func (s *Store) Append(j, mailbox string, blob BlobRef, flags []string, meta []byte) (uint32, error) {
	return 0, errTODO
}
func (s *Store) Subscribe(fn func(Event)) (cancel func()) { return func() {} }
func (s *Store) Stats() (Stats, error)                    { return Stats{}, errTODO }
func (s *Store) Check() error                             { return errTODO }
