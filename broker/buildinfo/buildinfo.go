package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is the build of the running binary.
type Info struct {
	Module    string   `json:"module"`
	Version   string   `json:"version"`  // module version, "(devel)" for a plain go build
	Revision  string   `json:"revision"` // VCS commit, "" when not recorded
	Time      string   `json:"vcs_time,omitempty"`
	Modified  bool     `json:"modified"` // the working tree had changes
	GoVersion string   `json:"go"`
	Platform  string   `json:"platform"`
	CGO       bool     `json:"cgo"`
	Deps      []string `json:"deps"` // "path version", one per dependency
}

// Read returns the running binary's build.
func Read() Info {
	info := Info{Version: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Deps: []string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Module, info.Version = bi.Main.Path, bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "CGO_ENABLED":
			info.CGO = s.Value == "1"
		}
	}
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v += " => " + d.Replace.Path + " " + d.Replace.Version
		}
		info.Deps = append(info.Deps, d.Path+" "+v)
	}
	return info
}

// Short is one line: "powbroker v1.2.3 (revision abc123def456, modified) go1.26.8 linux/amd64".
func (i Info) Short(name string) string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev = "no VCS revision recorded"
	} else {
		rev = "revision " + rev
	}
	if i.Modified {
		rev += ", modified"
	}
	return fmt.Sprintf("%s %s (%s) %s %s", name, i.Version, rev, i.GoVersion, i.Platform)
}

// Long is Short followed by one line per dependency.
func (i Info) Long(name string) string {
	var b strings.Builder
	b.WriteString(i.Short(name))
	b.WriteByte('\n')
	for _, d := range i.Deps {
		b.WriteString("  " + d + "\n")
	}
	return b.String()
}
