package admin

import (
	"fmt"
	"slices"
	"strings"

	"postern/intake/web"
)

// LanguageStatus is one language of the web form in relay status: whether
// it is offered and who translated it (from its catalogue's header).
type LanguageStatus struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Offered bool   `json:"offered"`
	Status  string `json:"status"` // translator and review, or why it is not served
}

// languages lists every catalogue the binary carries, marking those
// postern.conf's languages offers (all complete ones when it lists none),
// and warns about a listed language that is not served.
func languages(enabled []string) ([]LanguageStatus, []string) {
	all, err := web.AllLanguages()
	if err != nil {
		return nil, []string{fmt.Sprintf("web form languages: %v", err)}
	}
	var out []LanguageStatus
	var warnings []string
	for _, l := range all {
		listed := len(enabled) == 0 || slices.ContainsFunc(enabled, func(c string) bool { return strings.EqualFold(c, l.Code) })
		out = append(out, LanguageStatus{Code: l.Code, Name: l.Name, Offered: listed && l.Complete(), Status: l.Status()})
		if listed && len(enabled) > 0 && !l.Complete() {
			warnings = append(warnings, fmt.Sprintf("language %s is listed in postern.conf but its catalogue is incomplete: it is not offered", l.Code))
		}
	}
	for _, c := range enabled {
		if !slices.ContainsFunc(all, func(l *web.Language) bool { return strings.EqualFold(c, l.Code) }) {
			warnings = append(warnings, fmt.Sprintf("language %s is listed in postern.conf but this relay has no catalogue for it", c))
		}
	}
	return out, warnings
}
