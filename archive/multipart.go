package archive

// Resumable uploads. An object larger than the store's part size goes up as a multipart upload, one
// part at a time; an upload that stops half-way (the server killed, the mount stopped, the network
// gone) stays in the bucket as an incomplete multipart upload. The next upload of the same name
// finds it (ListMultipartUploads), lists the parts it holds (ListParts), and sends only the parts
// whose size or MD5 (the part's ETag) differ from the local bytes of that part: a part is the same
// bytes or it is sent again, so resuming is idempotent and the object is the local bytes whatever
// the earlier attempt held. Uploads a push did not resume are aborted once a push succeeded
// (abortAbandoned), and by a prune, so that the bucket does not keep paying for them.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

const (
	// DefaultPartSize is the size of the parts of a multipart upload; objects up to it go up in one
	// request.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (but the last), MaxPartSize its largest single upload.
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
)

// Transfer counts what uploads sent and what they found in the bucket already.
type Transfer struct {
	Sent         int64 `json:"bytes_sent"`    // bytes of objects and parts sent
	ResumedParts int   `json:"resumed_parts"` // parts an interrupted upload held and were not sent again
	ResumedBytes int64 `json:"resumed_bytes"`
}

func (t *Transfer) add(o Transfer) {
	t.Sent += o.Sent
	t.ResumedParts += o.ResumedParts
	t.ResumedBytes += o.ResumedBytes
}

// pendingUpload is an incomplete multipart upload in the bucket.
type pendingUpload struct {
	key, id   string
	initiated time.Time
}

// pendingUploads lists the incomplete multipart uploads whose keys start with pfx (a full key),
// oldest first for each key.
func (s *Store) pendingUploads(ctx context.Context, pfx string) ([]pendingUpload, error) {
	core := minio.Core{Client: s.c}
	var out []pendingUpload
	var infos []minio.ObjectMultipartInfo
	keyMarker, idMarker := "", ""
	for {
		res, err := core.ListMultipartUploads(ctx, s.loc.Bucket, pfx, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, s.explain("list incomplete uploads", pfx, err)
		}
		infos = append(infos, res.Uploads...)
		if !res.IsTruncated || (res.NextKeyMarker == "" && res.NextUploadIDMarker == "") {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	sort.SliceStable(infos, func(i, j int) bool {
		if infos[i].Key != infos[j].Key {
			return infos[i].Key < infos[j].Key
		}
		return infos[i].Initiated.Before(infos[j].Initiated)
	})
	for _, u := range infos {
		if strings.HasPrefix(u.Key, pfx) {
			out = append(out, pendingUpload{key: u.Key, id: u.UploadID, initiated: u.Initiated})
		}
	}
	return out, nil
}

// abort aborts an incomplete upload; one already gone is no error.
func (s *Store) abort(ctx context.Context, u pendingUpload) error {
	err := minio.Core{Client: s.c}.AbortMultipartUpload(ctx, s.loc.Bucket, u.key, u.id)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return s.explain("abort incomplete upload", u.key, err)
	}
	return nil
}

// abortAbandoned aborts the incomplete uploads below the prefix (dryRun: counts them), those
// initiated before "before" when it is not zero. Run after a push that succeeded, none of them is
// one that push still needs (it completed those it resumed); a prune, which may run beside a push,
// gives the time the newest manifest was written: an upload begun before it was abandoned by the
// push that wrote it (the archive has one pusher).
func (s *Store) abortAbandoned(ctx context.Context, before time.Time, dryRun bool) (int, error) {
	ups, err := s.pendingUploads(ctx, s.loc.key(""))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range ups {
		// Servers give the initiation time to the second (versitygw truncates it): an upload
		// listed as begun in second S began before S+1s.
		if !before.IsZero() && u.initiated.Add(time.Second).After(before) {
			continue
		}
		n++
		if dryRun {
			continue
		}
		if err := s.abort(ctx, u); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// listParts lists the parts an incomplete upload holds, by part number.
func (s *Store) listParts(ctx context.Context, u pendingUpload) (map[int]minio.ObjectPart, error) {
	core := minio.Core{Client: s.c}
	parts := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := core.ListObjectParts(ctx, s.loc.Bucket, u.key, u.id, marker, 1000)
		if err != nil {
			return nil, s.explain("list the parts of an incomplete upload", u.key, err)
		}
		for _, p := range res.ObjectParts {
			parts[p.PartNumber] = p
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return parts, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// putMultipart uploads size bytes of r as key in parts of s.partSize, resuming the newest
// incomplete upload of key (the older ones are aborted). It returns the SHA-256 of the bytes that
// make the object (each part is read once, hashed and sent from one buffer: they are the same bytes
// even while the file changes) and what was sent. sum (hex, may be empty) goes into the object's
// metadata; when the upload resumed is one an earlier push started, the metadata it holds is
// checked after completion.
func (s *Store) putMultipart(ctx context.Context, key string, r io.ReaderAt, size int64, sum string) (string, Transfer, error) {
	var tr Transfer
	core := minio.Core{Client: s.c}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if sum != "" {
		opts.UserMetadata = map[string]string{metaSHA: sum}
	}
	ups, err := s.pendingUploads(ctx, key)
	if err != nil {
		return "", tr, err
	}
	var up pendingUpload
	for _, u := range ups {
		if u.key != key {
			continue
		}
		if up.id != "" {
			if err := s.abort(ctx, up); err != nil {
				return "", tr, err
			}
		}
		up = u
	}
	held := map[int]minio.ObjectPart{}
	resumed := up.id != ""
	if resumed {
		if held, err = s.listParts(ctx, up); err != nil {
			return "", tr, err
		}
	} else {
		id, err := core.NewMultipartUpload(ctx, s.loc.Bucket, key, opts)
		if err != nil {
			return "", tr, s.explain("start a multipart upload", key, err)
		}
		up = pendingUpload{key: key, id: id}
	}
	whole := sha256.New()
	buf := make([]byte, s.partSize)
	var done []minio.CompletePart
	for n, off := 1, int64(0); off < size; n, off = n+1, off+s.partSize {
		b := buf[:min(s.partSize, size-off)]
		if _, err := r.ReadAt(b, off); err != nil && !(err == io.EOF && len(b) > 0) {
			return "", tr, fmt.Errorf("upload %s: read part %d: %w", s.loc.url(key), n, err)
		}
		whole.Write(b)
		m5 := md5.Sum(b)
		etag := hex.EncodeToString(m5[:])
		if p, ok := held[n]; ok && p.Size == int64(len(b)) && strings.Trim(p.ETag, `"`) == etag {
			tr.ResumedParts++
			tr.ResumedBytes += int64(len(b))
			done = append(done, minio.CompletePart{PartNumber: n, ETag: p.ETag})
			continue
		}
		p, err := core.PutObjectPart(ctx, s.loc.Bucket, key, up.id, n, bytes.NewReader(b), int64(len(b)), minio.PutObjectPartOptions{
			Md5Base64: base64.StdEncoding.EncodeToString(m5[:]), Sha256Hex: sumHex(sha256.New(), b)})
		if err != nil {
			return "", tr, s.explain(fmt.Sprintf("upload part %d of", n), key, err)
		}
		tr.Sent += int64(len(b))
		done = append(done, minio.CompletePart{PartNumber: n, ETag: p.ETag})
	}
	if _, err := core.CompleteMultipartUpload(ctx, s.loc.Bucket, key, up.id, done, opts); err != nil {
		return "", tr, s.explain("complete the multipart upload of", key, err)
	}
	if resumed && sum != "" {
		info, err := s.c.StatObject(ctx, s.loc.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			return "", tr, s.explain("stat", key, err)
		}
		if got := info.UserMetadata[metaSHA]; got != sum {
			return "", tr, fmt.Errorf("%w: %s completed from an incomplete upload that another push started for SHA-256 %q, not %s: remove it and push again", ErrForeign, s.loc.url(key), got, sum)
		}
	}
	return hex.EncodeToString(whole.Sum(nil)), tr, nil
}

func sumHex(h hash.Hash, b []byte) string {
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
