package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The subset of the Compose specification that the checks read. Keys a struct does not name
// land in its Other map, where TestComposeKeysAreKnown compares them with the specification's
// property names: a typo such as `depend_on` is an error there rather than silently ignored.

type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
	Other    map[string]any     `yaml:",inline"`
}

type service struct {
	Image       string         `yaml:"image"`
	Build       *buildSpec     `yaml:"build"`
	Command     stringOrList   `yaml:"command"`
	Entrypoint  stringOrList   `yaml:"entrypoint"`
	Environment envMap         `yaml:"environment"`
	DependsOn   dependsOn      `yaml:"depends_on"`
	Healthcheck *healthcheck   `yaml:"healthcheck"`
	Ports       []portSpec     `yaml:"ports"`
	Volumes     []mountSpec    `yaml:"volumes"`
	Restart     scalar         `yaml:"restart"`
	User        string         `yaml:"user"`
	ReadOnly    bool           `yaml:"read_only"`
	Other       map[string]any `yaml:",inline"`
}

// oneShot reports whether the service is meant to run to completion and stay stopped.
func (s service) oneShot() bool { return s.Restart.Value == "no" }

type buildSpec struct {
	Context    string         `yaml:"context"`
	Dockerfile string         `yaml:"dockerfile"`
	Other      map[string]any `yaml:",inline"`
}

func (b *buildSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain buildSpec
	return n.Decode((*plain)(b))
}

type healthcheck struct {
	Test        stringOrList   `yaml:"test"`
	Interval    string         `yaml:"interval"`
	Timeout     string         `yaml:"timeout"`
	Retries     int            `yaml:"retries"`
	StartPeriod string         `yaml:"start_period"`
	Disable     bool           `yaml:"disable"`
	Other       map[string]any `yaml:",inline"`
}

// usable reports whether Docker will actually run the check.
func (h *healthcheck) usable() bool {
	return h != nil && !h.Disable && len(h.Test.Items) > 0 && h.Test.Items[0] != "NONE"
}

type dependency struct {
	Condition string         `yaml:"condition"`
	Required  *bool          `yaml:"required"`
	Restart   *bool          `yaml:"restart"`
	Other     map[string]any `yaml:",inline"`
}

// dependsOn accepts both the list and the map syntax; a listed service means service_started.
type dependsOn map[string]dependency

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = dependency{Condition: "service_started"}
		}
		return nil
	}
	return n.Decode((*map[string]dependency)(d))
}

// stringOrList is a command, an entrypoint or a healthcheck test. The string form is split on
// spaces and marked, so checks can insist on the exec (list) form.
type stringOrList struct {
	Items      []string
	FromString bool
}

func (s *stringOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Items, s.FromString = strings.Fields(n.Value), true
		return nil
	}
	return n.Decode(&s.Items)
}

// envMap accepts both `KEY: value` and `- KEY=value`.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	if n.Kind == yaml.SequenceNode {
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		for _, it := range items {
			k, v, _ := strings.Cut(it, "=")
			(*e)[k] = v
		}
		return nil
	}
	return n.Decode((*map[string]string)(e))
}

// scalar keeps a value's YAML tag, to tell `restart: "no"` (a string) from `restart: false`.
type scalar struct {
	Value, Tag string
}

func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar", n.Line)
	}
	s.Value, s.Tag = n.Value, n.ShortTag()
	return nil
}

// portSpec is one published port, from the short or the long syntax.
type portSpec struct {
	HostIP    string
	Published []int // empty when Docker picks the host port
	Target    string
	Protocol  string
}

func (p *portSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP    string `yaml:"host_ip"`
			Published string `yaml:"published"`
			Target    string `yaml:"target"`
			Protocol  string `yaml:"protocol"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		p.HostIP, p.Target, p.Protocol = long.HostIP, long.Target, long.Protocol
		return p.setPublished(long.Published)
	}
	spec, proto, _ := strings.Cut(n.Value, "/")
	p.Protocol = proto
	parts := strings.Split(spec, ":")
	p.Target = parts[len(parts)-1]
	switch len(parts) {
	case 1:
	case 2:
		return p.setPublished(parts[0])
	case 3:
		p.HostIP = parts[0]
		return p.setPublished(parts[1])
	default:
		return fmt.Errorf("line %d: port %q: want [[IP:]HOST:]CONTAINER[/PROTOCOL]", n.Line, n.Value)
	}
	return nil
}

func (p *portSpec) setPublished(s string) error {
	if s == "" {
		return nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
		return fmt.Errorf("published port %q: want a port or a range of ports", s)
	}
	for port := from; port <= to; port++ {
		p.Published = append(p.Published, port)
	}
	return nil
}

// mountSpec is one entry of a service's volumes, from the short or the long syntax.
type mountSpec struct {
	Source, Target string
}

func (m *mountSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		}
		err := n.Decode(&long)
		m.Source, m.Target = long.Source, long.Target
		return err
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) == 1 {
		m.Target = parts[0] // an anonymous volume
		return nil
	}
	m.Source, m.Target = parts[0], parts[1]
	return nil
}

// bind reports whether the mount is a host path rather than a named volume.
func (m mountSpec) bind() bool {
	return strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "~")
}

// repoRoot is the module root, one level up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"), "deploy/ must sit at the module root")
	return root
}

// testEnv is the environment the compose file is interpolated with: only what it requires.
var testEnv = map[string]string{"PYXIS_JWT_SECRET": strings.Repeat("s", 32), "PYXIS_CODEC_KEYS": "k1:" + strings.Repeat("A", 43) + "="}

// loadCompose reads docker-compose.yaml, interpolated with env.
func loadCompose(t *testing.T, env map[string]string) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yaml"))
	require.NoError(t, err)
	cf, err := parseCompose(data, env)
	require.NoError(t, err)
	require.NotEmpty(t, cf.Services, "no services parsed")
	return cf
}

// parseCompose interpolates every scalar value the way Compose does, then decodes the file.
// Anchors, aliases and merge keys are resolved by the YAML decoder.
func parseCompose(data []byte, env map[string]string) (composeFile, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return composeFile{}, err
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	if err := interpolateNode(&root, lookup, map[*yaml.Node]bool{}); err != nil {
		return composeFile{}, err
	}
	var cf composeFile
	err := root.Decode(&cf)
	return cf, err
}

// interpolateNode rewrites the values (not the keys) of a document, each node once.
func interpolateNode(n *yaml.Node, lookup func(string) (string, bool), seen map[*yaml.Node]bool) error {
	if seen[n] {
		return nil
	}
	seen[n] = true
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := interpolateNode(c, lookup, seen); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := interpolateNode(n.Content[i], lookup, seen); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		return interpolateNode(n.Alias, lookup, seen)
	case yaml.ScalarNode:
		v, err := interpolate(n.Value, lookup)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		n.Value = v
	}
	return nil
}
