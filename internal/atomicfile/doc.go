// Package atomicfile writes files that appear whole or not at all: the data
// goes to a temporary file in the same directory, which is synced, renamed
// over the destination, and followed by a sync of the directory so that the
// rename itself survives a crash.
//
//	err := atomicfile.Write("/data/seg-12.ok", func(w io.Writer) error {
//		_, err := fmt.Fprintf(w, "%d\n", rows)
//		return err
//	})
package atomicfile
