// Reads one JSON case per line on stdin ({"text", "vars", "strict"}) and writes one JSON answer per
// line on stdout ({"ok", "out", "utf8", "err", "panic"}), evaluating with github.com/fluxcd/pkg/envsubst
// exactly as Flux's kustomize-controller does (a lookup that reports whether the variable exists).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/fluxcd/pkg/envsubst"
)

type request struct {
	Text   string            `json:"text"`
	Vars   map[string]string `json:"vars"`
	Strict bool              `json:"strict"`
}

type answer struct {
	Ok    bool   `json:"ok"`
	Out   string `json:"out"`
	UTF8  bool   `json:"utf8"`
	Err   string `json:"err,omitempty"`
	Panic bool   `json:"panic,omitempty"`
}

func eval(req request) (a answer) {
	defer func() {
		if r := recover(); r != nil {
			a = answer{Err: fmt.Sprint(r), Panic: true}
		}
	}()
	out, err := envsubst.Eval(req.Text, func(s string) (string, bool) {
		if req.Strict {
			v, ok := req.Vars[s]
			return v, ok
		}
		return req.Vars[s], true
	})
	if err != nil {
		return answer{Err: err.Error()}
	}
	return answer{Ok: true, Out: out, UTF8: utf8.ValidString(out)}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			os.Exit(2)
		}
		if err := enc.Encode(eval(req)); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		os.Exit(2)
	}
}
