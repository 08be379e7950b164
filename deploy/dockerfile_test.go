package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd, Args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	Image, Name string
	Body        []instruction
}

// find returns the stage's instructions of one kind, in order.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Body {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// index returns the position of the first instruction of kind cmd whose arguments match re,
// or -1.
func (s stage) index(cmd string, re *regexp.Regexp) int {
	return slices.IndexFunc(s.Body, func(in instruction) bool { return in.Cmd == cmd && re.MatchString(in.Args) })
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	require.NoError(t, err)
	var stages []stage
	var pending string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			require.NotEmpty(t, f, "FROM without an image")
			st := stage{Image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		require.NotEmptyf(t, stages, "%s before the first FROM", in.Cmd)
		stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
	}
	require.Empty(t, pending, "the Dockerfile ends inside a continued line")
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage: a build stage and a runtime stage")
	final := stages[len(stages)-1]
	buildIdx := slices.IndexFunc(stages, func(s stage) bool { return strings.HasPrefix(s.Image, "golang:") })
	require.GreaterOrEqual(t, buildIdx, 0, "a build stage FROM golang:<version>")
	build := stages[buildIdx]
	require.NotEqual(t, len(stages)-1, buildIdx, "the runtime stage must not be the Go toolchain image")

	t.Run("go version matches go.mod", func(t *testing.T) {
		goLine := goModVersion(t, "go")
		_, tag := splitImage(build.Image)
		version, _, _ := strings.Cut(tag, "-") // 1.26-bookworm -> 1.26
		assert.Equal(t, majorMinor(goLine), majorMinor(version), "golang image %s vs go.mod's go %s", build.Image, goLine)
		if parts := strings.Split(version, "."); len(parts) == 3 {
			want := strings.Split(goLine, ".")
			have, _ := strconv.Atoi(parts[2])
			need, _ := strconv.Atoi(want[len(want)-1])
			assert.GreaterOrEqual(t, have, need, "a golang image older than go.mod's go line cannot build (GOTOOLCHAIN=local)")
		}
	})

	var output string
	t.Run("build", func(t *testing.T) {
		builds := build.find("RUN")
		i := slices.IndexFunc(builds, func(in instruction) bool { return strings.Contains(in.Args, "go build") })
		require.GreaterOrEqual(t, i, 0, "a RUN go build in the build stage")
		run := builds[i].Args
		cgoOff := strings.Contains(run, "CGO_ENABLED=0") ||
			slices.ContainsFunc(build.find("ENV"), func(in instruction) bool { return strings.Contains(in.Args, "CGO_ENABLED=0") })
		assert.True(t, cgoOff, "CGO_ENABLED=0: the runtime image has no C library")
		assert.Regexp(t, `\s\./cmd/pyxis\s*$`, run, "builds ./cmd/pyxis")
		assert.Contains(t, run, "-trimpath")
		m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(run)
		require.NotNil(t, m, "go build -o <path>")
		output = m[1]

		// Layer caching: dependencies are downloaded from go.mod and go.sum alone.
		copyMod := build.index("COPY", regexp.MustCompile(`^go\.mod\s+go\.sum\s`))
		download := build.index("RUN", regexp.MustCompile(`go mod download`))
		copyAll := build.index("COPY", regexp.MustCompile(`^\.\s`))
		assert.True(t, copyMod >= 0 && copyMod < download && download < copyAll,
			"COPY go.mod go.sum, then RUN go mod download, then COPY . (got %d, %d, %d)", copyMod, download, copyAll)
	})

	t.Run("runtime stage", func(t *testing.T) {
		_, tag := splitImage(final.Image)
		require.NotEmpty(t, tag, "runtime image %s needs a tag", final.Image)
		assert.NotEqual(t, "latest", tag)
		users := final.find("USER")
		if len(users) == 0 {
			assert.Contains(t, tag, "nonroot", "without USER, the base image must be a nonroot variant")
		} else {
			user := strings.Split(users[len(users)-1].Args, ":")[0]
			assert.NotContains(t, []string{"root", "0"}, user, "runtime USER")
		}
		ref := build.Name
		if ref == "" {
			ref = strconv.Itoa(buildIdx)
		}
		copyBin := regexp.MustCompile(`^--from=` + regexp.QuoteMeta(ref) + `\s+` + regexp.QuoteMeta(output) + `\s+/pyxis$`)
		assert.GreaterOrEqual(t, final.index("COPY", copyBin), 0, "COPY --from=%s %s /pyxis", ref, output)
		entry := final.find("ENTRYPOINT")
		require.Len(t, entry, 1)
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(entry[0].Args), &argv), "ENTRYPOINT in exec (JSON) form: there is no shell")
		assert.Equal(t, []string{"/pyxis"}, argv)
		expose := final.find("EXPOSE")
		assert.True(t, slices.ContainsFunc(expose, func(in instruction) bool {
			return slices.Contains(strings.Fields(in.Args), "8080") || slices.Contains(strings.Fields(in.Args), "8080/tcp")
		}), "EXPOSE 8080")
		assert.False(t, slices.ContainsFunc(final.Body, func(in instruction) bool { return strings.Contains(in.Args, "pyxis-dev") }),
			"the production image holds nothing of the development tool")
	})

	// The development tool's target: its own image, built from a stage the production image
	// does not depend on, on the same non-root base.
	t.Run("dev target", func(t *testing.T) {
		i := slices.IndexFunc(stages, func(s stage) bool { return s.Name == "dev" })
		require.GreaterOrEqual(t, i, 0, "a stage named dev (docker build --target dev)")
		require.NotEqual(t, len(stages)-1, i, "the default target (the last stage) is the production image")
		dev := stages[i]
		assert.Equal(t, final.Image, dev.Image, "the same runtime base as production")
		copyBin := dev.find("COPY")
		require.Len(t, copyBin, 1)
		from := regexp.MustCompile(`^--from=(\S+)\s+(\S+)\s+/pyxis-dev$`).FindStringSubmatch(copyBin[0].Args)
		require.NotNil(t, from, "COPY --from=<stage> <binary> /pyxis-dev")
		j := slices.IndexFunc(stages, func(s stage) bool { return s.Name == from[1] })
		require.GreaterOrEqual(t, j, 0, "the stage %s", from[1])
		assert.True(t, slices.ContainsFunc(stages[j].find("RUN"), func(in instruction) bool {
			return regexp.MustCompile(`go build .*-o\s+` + regexp.QuoteMeta(from[2]) + `\s.*\./cmd/pyxis-dev\s*$`).MatchString(in.Args)
		}), "%s builds ./cmd/pyxis-dev into %s", from[1], from[2])
		assert.NotContains(t, final.Body, instruction{Cmd: "COPY", Args: copyBin[0].Args})
		users := dev.find("USER")
		require.NotEmpty(t, users)
		assert.NotContains(t, []string{"root", "0"}, strings.Split(users[len(users)-1].Args, ":")[0])
		entry := dev.find("ENTRYPOINT")
		require.Len(t, entry, 1)
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(entry[0].Args), &argv))
		assert.Equal(t, []string{"/pyxis-dev"}, argv)
	})
}

// dockerignore is the exclusion list of the build context, as Docker applies it: the last
// matching pattern wins, `!` re-includes, and a pattern matching a folder excludes its content.
type dockerignore []struct {
	re      *regexp.Regexp
	include bool
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	require.NoError(t, err)
	var out dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		include := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(strings.TrimPrefix(p, "!"))), "/")
		out = append(out, struct {
			re      *regexp.Regexp
			include bool
		}{globRegexp(p), include})
	}
	return out
}

// globRegexp translates a .dockerignore pattern: * and ? stay within a path segment, **
// crosses segments.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// excluded reports whether path (slash-separated, relative to the context) stays out.
func (d dockerignore) excluded(path string) bool {
	out := false
	for _, p := range d {
		for prefix := path; prefix != "."; prefix = filepath.ToSlash(filepath.Dir(prefix)) {
			if p.re.MatchString(prefix) {
				out = !p.include
				break
			}
		}
	}
	return out
}

func TestDockerignore(t *testing.T) {
	ignore := loadDockerignore(t)
	for _, path := range []string{
		".git/config", ".pyxis-dev/secret", "api/api.test", ".env", ".env.production",
		"pyxis", "pyxis-dev", "docker-compose.yaml", "deploy/compose_test.go",
	} {
		assert.Truef(t, ignore.excluded(path), "%s must stay out of the build context", path)
	}
	// Everything the build needs stays in: go.mod, go.sum, every non-test Go source and every
	// file it embeds, except in deploy/ (test-only; neither binary imports it).
	root := repoRoot(t)
	for _, path := range []string{"go.mod", "go.sum", "cmd/pyxis/main.go", "cmd/pyxis-dev/main.go"} {
		assert.Falsef(t, ignore.excluded(path), "%s is needed by the build", path)
	}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "deploy" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		checked++
		assert.Falsef(t, ignore.excluded(rel), "%s is needed by the build but .dockerignore excludes it", rel)
		for _, embedded := range embeddedFiles(t, path) {
			erel, _ := filepath.Rel(root, embedded)
			assert.Falsef(t, ignore.excluded(filepath.ToSlash(erel)), "%s embeds %s, which .dockerignore excludes", rel, erel)
		}
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, checked, "no Go sources found to check")
}

// embeddedFiles returns the files the //go:embed directives of a Go source file name.
func embeddedFiles(t *testing.T, goFile string) []string {
	t.Helper()
	data, err := os.ReadFile(goFile)
	require.NoError(t, err)
	var files []string
	for _, line := range strings.Split(string(data), "\n") {
		patterns, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:embed ")
		if !ok {
			continue
		}
		for _, p := range strings.Fields(patterns) {
			p = strings.TrimPrefix(strings.Trim(p, "`\""), "all:")
			matches, err := filepath.Glob(filepath.Join(filepath.Dir(goFile), p))
			require.NoError(t, err)
			require.NotEmptyf(t, matches, "%s: //go:embed %s matches nothing", goFile, p)
			files = append(files, matches...)
		}
	}
	return files
}

func TestGlobRegexp(t *testing.T) {
	tests := []struct {
		pattern, path string
		match         bool
	}{
		{"*.test", "pyxis.test", true},
		{"*.test", "api/api.test", false}, // * stays in the top folder, as in Docker
		{"**/*.test", "api/api.test", true},
		{"**/*.test", "x.test", true},
		{".env.*", ".env.local", true},
		{"deploy", "deploy", true},
		{"docker-compose*.yaml", "docker-compose.override.yaml", true},
		{"**/testdata/fuzz", "db/testdata/fuzz", true},
	}
	for _, tt := range tests {
		assert.Equalf(t, tt.match, globRegexp(tt.pattern).MatchString(tt.path), "%q vs %q", tt.pattern, tt.path)
	}
}
