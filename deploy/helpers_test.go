package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module root, one level up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"), "deploy/ must sit at the module root")
	return root
}

// goModVersion returns the version go.mod gives path: a module's required version, or for
// "go" the go directive's.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	pattern := `(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+(\S+)`
	m := regexp.MustCompile(pattern).FindSubmatch(data)
	require.NotNilf(t, m, "go.mod has no line for %s", path)
	return string(m[1])
}

// majorMinor returns "1.26" for "1.26.8", "v1.26.8" or "1.26".
func majorMinor(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// splitImage splits an image reference into repository and tag (the tag may be empty).
func splitImage(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}
