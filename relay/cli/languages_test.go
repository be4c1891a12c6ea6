package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"postern/relay/admin"
)

// TestStatusListsLanguages: relay status names every language of the web
// form, whether postern.conf offers it, and who translated it.
func TestStatusListsLanguages(t *testing.T) {
	dir := newInstanceWith(t, "languages = fr, ar, xx\n")
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", dir)), &st); err != nil {
		t.Fatal(err)
	}
	offered := map[string]bool{}
	for _, l := range st.Languages {
		offered[l.Code] = l.Offered
	}
	if !offered["fr"] || !offered["ar"] || offered["en"] || len(st.Languages) < 4 {
		t.Fatalf("languages: %+v", st.Languages)
	}
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "language xx is listed in postern.conf but this relay has no catalogue") {
		t.Errorf("no warning about xx: %q", st.Warnings)
	}
	out := mustRelay(t, nil, "status", "--data", dir)
	for _, want := range []string{"+ ar       العربية: machine-assisted translation by the Postern developers; not reviewed by a native speaker", "- en       English: Postern developers; source text"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
