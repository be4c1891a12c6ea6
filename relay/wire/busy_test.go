package wire

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// TestIntakeBusyAnswerHasNoDate: the bare 503 written when the form's
// connection cap is reached is a well-formed HTTP answer without a Date
// header, like every answer of the form (intake/web/headers.go).
func TestIntakeBusyAnswerHasNoDate(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(intakeConns().Busy)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d", resp.StatusCode)
	}
	if d, ok := resp.Header["Date"]; ok {
		t.Errorf("Date %q", d)
	}
}
