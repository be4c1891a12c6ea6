package cli

import (
	"fmt"
	"io"

	"postern/relay/admin"
)

// printLanguages lists the web form's languages in relay status: which
// are offered, and who translated each.
func printLanguages(w io.Writer, st admin.Status) {
	offered := 0
	for _, l := range st.Languages {
		if l.Offered {
			offered++
		}
	}
	fmt.Fprintf(w, "  languages:       %d offered of %d\n", offered, len(st.Languages))
	for _, l := range st.Languages {
		mark := "-"
		if l.Offered {
			mark = "+"
		}
		fmt.Fprintf(w, "    %s %-8s %s: %s\n", mark, l.Code, l.Name, l.Status)
	}
}
