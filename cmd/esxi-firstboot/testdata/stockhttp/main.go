// Command stockhttp is the control for the seccomp test: an ordinary Go
// program using net/http, which ESXi's missing epoll_pwait crashes.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	resp, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("status %d, %d bytes\n", resp.StatusCode, len(b))
}
