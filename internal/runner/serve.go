package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A process that holds the state file open (a long-running dockhand run)
// serves its records on a Unix socket next to it, so that dockhand get can
// show them meanwhile: bbolt's lock keeps every other process out of the
// file.

// SocketPath is where the process holding the state file at statePath
// serves its records.
func SocketPath(statePath string) string { return statePath + ".sock" }

// ServeRecords serves the state's records on SocketPath(s.Path()) until
// the returned function is called. A socket left by a process that died is
// replaced; the caller holds the state file, so no live process owns it.
func (s *State) ServeRecords() (stop func(), err error) {
	path := SocketPath(s.path)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("serving the state on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /records", func(w http.ResponseWriter, _ *http.Request) {
		recs, err := s.Records()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(recs)
	})
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, _ *http.Request) {
		// One read transaction: a consistent copy of the whole file, while
		// the runner goes on writing.
		err := s.db.View(func(tx *bolt.Tx) error {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(tx.Size(), 10))
			_, err := tx.WriteTo(w)
			return err
		})
		if err != nil {
			// The status line is gone already; a cut-off body is all the
			// client can be told, and it checks the length.
			panic(http.ErrAbortHandler)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		os.Remove(path)
	}, nil
}

// SnapshotFromSocket asks the process holding the state file at statePath
// for a consistent copy of the whole file (records, tags, the clone cache
// location) and writes it to dst, for a dry run that works on a copy while
// a run holds the file.
func SnapshotFromSocket(ctx context.Context, statePath, dst string) error {
	client, req, err := socketRequest(ctx, statePath, "/snapshot")
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("asking the process holding %s: %w", statePath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("asking the process holding %s: %s", statePath, resp.Status)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("copying the state file: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("copying the state file from the process holding %s: %w", statePath, err)
	}
	return nil
}

// socketRequest prepares a GET of path from the process serving the state
// file at statePath.
func socketRequest(ctx context.Context, statePath, path string) (*http.Client, *http.Request, error) {
	sock := SocketPath(statePath)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://state"+path, nil)
	if err != nil {
		return nil, nil, err
	}
	return client, req, nil
}

// RecordsFromSocket asks the process holding the state file at statePath
// for its records.
func RecordsFromSocket(ctx context.Context, statePath string) ([]Record, error) {
	client, req, err := socketRequest(ctx, statePath, "/records")
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the process holding %s: %w", statePath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("asking the process holding %s: %s", statePath, resp.Status)
	}
	var recs []Record
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		return nil, fmt.Errorf("reading the records served for %s: %w", statePath, err)
	}
	return recs, nil
}
