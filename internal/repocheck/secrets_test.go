// Package repocheck holds tests over the repository's files themselves.
package repocheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// credentialPatterns are shapes of real credentials: cloud access keys,
// private keys, tokens. Test code sets fake credentials in the environment
// at run time (t.Setenv) instead of committing them.
var credentialPatterns = map[string]*regexp.Regexp{
	"AWS access key id":        regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),
	"AWS secret access key":    regexp.MustCompile(`(?i)aws_secret_access_key\s*[=:]\s*["']?[A-Za-z0-9/+=]{40}`),
	"private key":              regexp.MustCompile(`-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----`),
	"GCP service account key":  regexp.MustCompile(`"type"\s*:\s*"service_account"`),
	"GitHub token":             regexp.MustCompile(`\b(ghp|gho|ghs|ghu)_[A-Za-z0-9]{36}\b`),
	"password in a URL":        regexp.MustCompile(`\b(postgres|postgresql|mysql|mongodb)://[^:/\s"'@]+:[^@\s"'$<{]{6,}@[^\s"']*\b(amazonaws\.com|googleapis\.com|cloudsql|rds)`),
	"Slack/Stripe-style token": regexp.MustCompile(`\b(xox[abp]-[0-9A-Za-z-]{20,}|sk_live_[0-9A-Za-z]{20,})\b`),
}

// TestNoCredentialsInRepo scans every tracked (and untracked, not ignored)
// text file for credential shapes.
func TestNoCredentialsInRepo(t *testing.T) {
	root, files := gitFiles(t, "--cached", "--others", "--exclude-standard")
	scanned := 0
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil || strings.ContainsRune(string(b[:min(len(b), 8000)]), 0) {
			continue // deleted in the working tree, or binary
		}
		scanned++
		for what, re := range credentialPatterns {
			if loc := re.FindIndex(b); loc != nil {
				line := 1 + strings.Count(string(b[:loc[0]]), "\n")
				t.Errorf("%s:%d looks like a %s — keep credentials in the environment or a secret store", rel, line, what)
			}
		}
	}
	t.Logf("scanned %d text files", scanned)
}

// The patterns find what they are meant to find (built at run time, so this
// file holds no credential-shaped literal).
func TestPatternsMatch(t *testing.T) {
	samples := map[string]string{
		"AWS access key id":       "AKIA" + strings.Repeat("Q", 16),
		"AWS secret access key":   "aws_secret_access_key = " + strings.Repeat("a1/B", 10),
		"private key":             "-----BEGIN " + "PRIVATE KEY-----",
		"GCP service account key": `{"type": "service_` + `account"}`,
		"GitHub token":            "ghp_" + strings.Repeat("x", 36),
		"password in a URL":       "postgres://app:" + "s3cretpw@db.abc.eu-west-1.rds.amazonaws.com/x",
	}
	for what, s := range samples {
		if !credentialPatterns[what].MatchString(s) {
			t.Errorf("%s pattern does not match %q", what, s)
		}
	}
}

// gitFiles returns the repository root and the files git ls-files lists
// with the given options; outside a git checkout the test is skipped,
// except under CI, where a checkout is expected.
func gitFiles(t *testing.T, opts ...string) (root string, files []string) {
	t.Helper()
	root = testmirror.RepoRoot()
	out, err := exec.Command("git", append([]string{"-C", root, "ls-files", "-z"}, opts...)...).Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git ls-files: %v", err)
		}
		t.Skipf("not a git checkout: %v", err)
	}
	files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 100 {
		t.Fatalf("only %d files listed", len(files))
	}
	return root, files
}
