package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"syscall"
)

// ErrNoPostgres means initdb or pg_ctl could not be found. Its text advises what every user
// of the package can do; each adds its own way around (dev mode DATABASE_URL, the tests
// PYXIS_TEST_DATABASE_URL).
var ErrNoPostgres = errors.New("pgcluster: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH " +
	"or under /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)")

// binaries are the paths of the PostgreSQL programs the cluster runs.
type binaries struct {
	initdb string
	pgCtl  string
}

// findBinaries looks for initdb and pg_ctl on PATH, then in the newest Debian-style install.
func findBinaries() (binaries, error) {
	initdb, err1 := exec.LookPath("initdb")
	pgCtl, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return binaries{initdb: initdb, pgCtl: pgCtl}, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: compare numerically, "9.6" < "15".
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		b := binaries{initdb: filepath.Join(d, "initdb"), pgCtl: filepath.Join(d, "pg_ctl")}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) {
			return b, nil
		}
	}
	return binaries{}, ErrNoPostgres
}

// version extracts the major version from /usr/lib/postgresql/<major>/bin.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// osUser is the unprivileged account the server runs as when this process is root.
type osUser struct {
	name     string
	uid, gid int
	groups   []int
	home     string
}

// lookupOSUser finds an OS account by name.
func lookupOSUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, so the server must run as the %q OS user: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: uid of %s: %w", name, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: gid of %s: %w", name, err)
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				groups = append(groups, g)
			}
		}
	}
	return &osUser{name: name, uid: uid, gid: gid, groups: groups, home: u.HomeDir}, nil
}

// checkSearchable returns an error naming the first parent of dir that the user cannot enter,
// judged from owner, group and mode bits.
func (u *osUser) checkSearchable(dir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !u.canSearch(fi) {
			return fmt.Errorf("pgcluster: the server runs as OS user %q, which cannot enter %s (mode %v); "+
				"choose a data directory it can reach, or chmod o+x that directory", u.name, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// canSearch reports whether the user may traverse the directory described by fi.
func (u *osUser) canSearch(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case int(st.Uid) == u.uid:
		return mode&0o100 != 0
	case slices.Contains(u.groups, int(st.Gid)):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

// apply makes cmd run as the user.
func (u *osUser) apply(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)},
	}
	cmd.Env = append(os.Environ(), "USER="+u.name, "LOGNAME="+u.name, "HOME="+u.home)
}

// chownTree hands dir and everything below it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
