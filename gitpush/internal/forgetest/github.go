package forgetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHub stands in for the GitHub REST API
// (docs.github.com/en/rest): App installation tokens, installation lookup
// by owner, pull requests and issue labels.
type GitHub struct {
	store
	Server *httptest.Server

	AppID          int64
	InstallationID int64
	Owner          string // the account the app is installed on
	appKey         *rsa.PublicKey
	// TokenTTL is how long installation tokens live. Default one hour.
	TokenTTL time.Duration
	// Now is the stand-in's clock. Default time.Now.
	Now func() time.Time

	mu         sync.Mutex
	tokens     map[string]time.Time // token -> expiry
	staticTok  string
	tokenCalls int
}

// StartGitHub starts a GitHub stand-in that knows one App (appID, its
// public key) installed as installationID on owner, and accepts staticToken
// (a personal access token) as well as the installation's tokens.
func StartGitHub(t testing.TB, appID, installationID int64, owner string, appKey *rsa.PublicKey, staticToken string) *GitHub {
	g := &GitHub{AppID: appID, InstallationID: installationID, Owner: owner, appKey: appKey, staticTok: staticToken,
		TokenTTL: time.Hour, Now: time.Now, tokens: map[string]time.Time{}}
	g.Server = start(t, g)
	return g
}

// URL is the API root (the githubAppBaseURL of a Secret).
func (g *GitHub) URL() string { return g.Server.URL + "/api/v3" }

// TokenCalls counts installation tokens issued.
func (g *GitHub) TokenCalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokenCalls
}

// ValidToken reports whether tok is a live installation token or the
// static token; the git front end uses it for x-access-token passwords.
func (g *GitHub) ValidToken(tok string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if tok != "" && tok == g.staticTok {
		return true
	}
	exp, ok := g.tokens[tok]
	return ok && g.Now().Before(exp)
}

func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.record(r)
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
	if !ok {
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	auth := r.Header.Get("Authorization")
	switch {
	case len(parts) == 4 && parts[0] == "app" && parts[1] == "installations" && parts[3] == "access_tokens" && r.Method == http.MethodPost:
		if err := g.checkJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": err.Error()})
			return
		}
		if parts[2] != fmt.Sprint(g.InstallationID) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := "ghs_" + hex.EncodeToString(b)
		g.mu.Lock()
		exp := g.Now().Add(g.TokenTTL).UTC().Truncate(time.Second)
		g.tokens[tok] = exp
		g.tokenCalls++
		g.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339)})
	case len(parts) == 3 && (parts[0] == "orgs" || parts[0] == "users") && parts[2] == "installation" && r.Method == http.MethodGet:
		if err := g.checkJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": err.Error()})
			return
		}
		if parts[1] != g.Owner || parts[0] != "users" { // the stand-in's owner is a user account
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": g.InstallationID, "account": map[string]string{"login": g.Owner}})
	case len(parts) >= 4 && parts[0] == "repos":
		if !g.ValidToken(strings.TrimPrefix(auth, "Bearer ")) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		g.repos(w, r, parts[1]+"/"+parts[2], parts[3:])
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}

// checkJWT verifies an RS256 app JWT as GitHub does: signature by the
// app's key, issuer the app, issued in the past, expiring within ten
// minutes and not yet expired.
func (g *GitHub) checkJWT(tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("A JSON web token could not be decoded")
	}
	var hdr struct{ Alg string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return fmt.Errorf("'alg' must be RS256")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(g.appKey, crypto.SHA256, sum[:], sig) != nil {
		return fmt.Errorf("A JSON web token could not be decoded")
	}
	var claims struct {
		Iat, Exp int64
		Iss      json.Number
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil {
		return err
	}
	now := g.Now().Unix()
	switch {
	case claims.Iss.String() != fmt.Sprint(g.AppID):
		return fmt.Errorf("'iss' must be the app ID")
	case claims.Iat > now+30:
		return fmt.Errorf("'Issued at' claim ('iat') must be an Integer representing a time in the past")
	case claims.Exp <= now || claims.Exp-claims.Iat > 600:
		return fmt.Errorf("'Expiration time' claim ('exp') is too far in the future or expired")
	}
	return nil
}

type ghPR struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	State   string `json:"state"`
	Head    struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (g *GitHub) view(repo string, p *PR) ghPR {
	v := ghPR{Number: p.Number, HTMLURL: fmt.Sprintf("%s/%s/pull/%d", g.Server.URL, repo, p.Number), Title: p.Title, Body: p.Body, State: "open"}
	if !p.Open {
		v.State = "closed"
	}
	v.Head.Ref, v.Base.Ref = p.Head, p.Base
	return v
}

func (g *GitHub) repos(w http.ResponseWriter, r *http.Request, repo string, rest []string) {
	g.store.mu.Lock()
	defer g.store.mu.Unlock()
	owner := strings.Split(repo, "/")[0]
	switch {
	case len(rest) == 1 && rest[0] == "pulls" && r.Method == http.MethodGet:
		q := r.URL.Query()
		out := []ghPR{}
		for _, p := range g.prs[repo] {
			head := strings.TrimPrefix(q.Get("head"), owner+":")
			if (q.Get("state") == "open" && !p.Open) || (q.Get("head") != "" && p.Head != head) || (q.Get("base") != "" && p.Base != q.Get("base")) {
				continue
			}
			out = append(out, g.view(repo, p))
		}
		writeJSON(w, http.StatusOK, out)
	case len(rest) == 1 && rest[0] == "pulls" && r.Method == http.MethodPost:
		var in struct{ Title, Head, Base, Body string }
		if !decode(r, &in) || in.Title == "" || in.Head == "" || in.Base == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
			return
		}
		if g.find(repo, in.Head, in.Base) != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "A pull request already exists for " + owner + ":" + in.Head + "."})
			return
		}
		p := g.create(repo, &PR{Head: in.Head, Base: in.Base, Title: in.Title, Body: in.Body})
		writeJSON(w, http.StatusCreated, g.view(repo, p))
	case len(rest) == 2 && rest[0] == "pulls" && r.Method == http.MethodPatch:
		p := g.get(repo, atoi(rest[1]))
		var in struct {
			Title *string
			Body  *string
		}
		if p == nil || !decode(r, &in) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		if in.Title != nil {
			p.Title = *in.Title
		}
		if in.Body != nil {
			p.Body = *in.Body
		}
		writeJSON(w, http.StatusOK, g.view(repo, p))
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "labels" && r.Method == http.MethodPost:
		p := g.get(repo, atoi(rest[1]))
		var in struct{ Labels []string }
		if p == nil || !decode(r, &in) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		addLabels(p, in.Labels)
		out := []map[string]string{}
		for _, l := range p.Labels {
			out = append(out, map[string]string{"name": l})
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}
