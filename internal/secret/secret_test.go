package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "VMware1!-s3cret"

func TestNeverPrinted(t *testing.T) {
	s := New(plain)
	type holder struct {
		Name     string
		Password Secret
		Ptr      *Secret
	}
	h := holder{Name: "root", Password: s, Ptr: &s}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, h))
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "pw", s, "holder", h)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "pw", s)
	outs = append(outs, logBuf.String())
	for _, o := range outs {
		if strings.Contains(o, plain) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(string(j), Redacted) {
		t.Errorf("json %s lacks %s", j, Redacted)
	}
	if s.Reveal() != plain {
		t.Errorf("Reveal lost the value")
	}
}

func TestDecode(t *testing.T) {
	var v struct{ Password Secret }
	if err := json.Unmarshal([]byte(`{"Password":"`+plain+`"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Password.Reveal() != plain || v.Password.IsZero() {
		t.Fatalf("decoded %q", v.Password.Reveal())
	}
}
