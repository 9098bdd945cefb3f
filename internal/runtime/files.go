package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/projection"
)

// ReadFiles reads the definitions (flows and projections) of a file, or of every .yaml, .yml and
// .json file of a directory and its subdirectories (in name order). Every
// problem of every file is reported at once, as a *flow.Error.
func ReadFiles(path string) ([]flow.Document, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if info.IsDir() {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != path && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s holds no .yaml, .yml or .json file", path)
		}
	} else {
		files = []string{path}
	}
	var docs []flow.Document
	var all flow.Error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ds, err := flow.ParseFile(f, data)
		var fe *flow.Error
		switch {
		case errors.As(err, &fe):
			all.Problems = append(all.Problems, fe.Problems...)
			continue
		case err != nil:
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, d := range ds {
			if d.Kind == flow.KindProjection {
				pd, err := projection.FromDocument(d)
				if err == nil {
					_, err = projection.Compile(pd)
				}
				if errors.As(err, &fe) {
					all.Problems = append(all.Problems, fe.Problems...)
					continue
				} else if err != nil {
					return nil, err
				}
			}
			if d.Flow != nil {
				if _, err := flow.Compile(d.Flow); errors.As(err, &fe) {
					all.Problems = append(all.Problems, fe.Problems...)
					continue
				} else if err != nil {
					return nil, err
				}
			}
			docs = append(docs, d)
		}
	}
	if len(all.Problems) > 0 {
		return nil, &all
	}
	return docs, nil
}
