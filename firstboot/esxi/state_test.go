package esxi

import (
	"os"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	b, err := os.ReadFile("testdata/nic-list.csv")
	if err != nil {
		t.Fatal(err)
	}
	tab, err := ParseCSV(b)
	if err != nil || len(tab) != 2 || tab[1]["Name"] != "vmnic1" || tab[1]["MACAddress"] != "0c:42:a1:5e:00:11" || !strings.HasPrefix(tab[0]["Description"], "Intel(R)") {
		t.Fatalf("%v %v", tab, err)
	}
	b, _ = os.ReadFile("testdata/vswitch-list.csv")
	tab, err = ParseCSV(b)
	if err != nil || strings.Join(List(tab[0]["Uplinks"]), "|") != "vmnic0|vmnic1" || strings.Join(List(tab[0]["Portgroups"]), "|") != "VM Network|Management Network" {
		t.Fatalf("%v %v", tab, err)
	}
	if _, err := ParseCSV([]byte("A,B,C,\n1\n")); err == nil {
		t.Fatal("short row accepted")
	}
	// FormatCSV output parses back.
	tab, err = ParseCSV(FormatCSV([]string{"Name", "Uplinks"}, [][]string{{"vSwitch0", "vmnic0,vmnic2"}}))
	if err != nil || tab[0]["Uplinks"] != "vmnic0,vmnic2" {
		t.Fatalf("round trip %v %v", tab, err)
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, n := range []string{"testdata/nic-list.csv", "testdata/vswitch-list.csv"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := ParseCSV(b)
		if err != nil {
			return
		}
		for _, r := range tab {
			for _, v := range r {
				_ = List(v)
			}
		}
	})
}
