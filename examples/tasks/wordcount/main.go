// wordcount: an Overlord image task (contracts/tasks/wordcount.json).
//
// It reads its parameters as every Overlord task does (OVERLORD_PARAMETERS, or the
// JSON object at OVERLORD_PARAMETERS_URI when they were too large for the environment;
// src/overlord/worker_env.py), counts the lines, words and bytes of the S3 object named
// by "s3_uri", and writes a result JSON in the worker's shape under the same key,
// results/<job_id>/<batch_job_id>.json (src/overlord/bucket_layout.py), in RESULTS_BUCKET.
//
// Exit codes follow the worker's: 0 success, 1 failure, 2 bad input (never retried:
// the catalogue lists 2 in no_retry_exit_codes).
//
// AWS endpoints and credentials come from the SDK's own environment variables
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, the container credentials Batch provides).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

type badInput struct{ msg string }

func (e badInput) Error() string { return e.msg }

type counts struct {
	S3URI string `json:"s3_uri"`
	Lines int64  `json:"lines"`
	Words int64  `json:"words"`
	Bytes int64  `json:"bytes"`
}

func splitURI(uri string) (string, string, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, found := strings.Cut(rest, "/")
	if !ok || !found || bucket == "" || key == "" {
		return "", "", badInput{fmt.Sprintf("parameters.s3_uri: not an s3://bucket/key URI: %q", uri)}
	}
	return bucket, key, nil
}

func newClient(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	// moto and LocalStack serve buckets by path, not by host name.
	pathStyle := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), nil
}

func readObject(ctx context.Context, client *s3.Client, uri string) (io.ReadCloser, error) {
	bucket, key, err := splitURI(uri)
	if err != nil {
		return nil, err
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

func parameters(ctx context.Context, client *s3.Client) (map[string]any, error) {
	text := os.Getenv("OVERLORD_PARAMETERS")
	if uri := os.Getenv("OVERLORD_PARAMETERS_URI"); uri != "" {
		body, err := readObject(ctx, client, uri)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		raw, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		text = string(raw)
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(text), &params); err != nil || params == nil {
		return nil, badInput{"OVERLORD_PARAMETERS: must be a JSON object"}
	}
	return params, nil
}

func count(ctx context.Context, client *s3.Client, params map[string]any) (*counts, error) {
	uri, ok := params["s3_uri"].(string)
	if !ok {
		return nil, badInput{"parameters.s3_uri: is required and must be a string"}
	}
	body, err := readObject(ctx, client, uri)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	result := &counts{S3URI: uri}
	reader := bufio.NewReader(body)
	inWord := false
	for {
		r, size, err := reader.ReadRune()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		result.Bytes += int64(size)
		if r == '\n' {
			result.Lines++
		}
		if unicode.IsSpace(r) {
			inWord = false
		} else if !inWord {
			inWord = true
			result.Words++
		}
	}
	return result, nil
}

func logLine(level, message string) {
	line, _ := json.Marshal(map[string]string{
		"level": level, "message": message, "job_id": os.Getenv("OVERLORD_JOB_ID"),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	})
	fmt.Println(string(line))
}

func run() int {
	ctx := context.Background()
	started := time.Now().UTC()
	jobID, batchJobID := os.Getenv("OVERLORD_JOB_ID"), os.Getenv("AWS_BATCH_JOB_ID")
	if batchJobID == "" {
		batchJobID = "local"
	}
	attempt := 1
	fmt.Sscan(os.Getenv("AWS_BATCH_JOB_ATTEMPT"), &attempt)

	client, err := newClient(ctx)
	if err != nil {
		logLine("ERROR", "no AWS configuration: "+err.Error())
		return exitFailed
	}
	result := map[string]any{
		"job_id": jobID, "batch_job_id": batchJobID, "attempt": attempt,
		"task": os.Getenv("OVERLORD_TASK"), "started_at": started.Format(time.RFC3339Nano),
	}
	code := exitOK
	params, err := parameters(ctx, client)
	var output *counts
	if err == nil {
		output, err = count(ctx, client, params)
	}
	var bad badInput
	switch {
	case errors.As(err, &bad):
		code, result["status"], result["error"] = exitBadInput, "FAILED", err.Error()
		logLine("ERROR", "bad input: "+err.Error())
	case err != nil:
		code, result["status"], result["error"] = exitFailed, "FAILED", err.Error()
		logLine("ERROR", "task failed: "+err.Error())
	default:
		result["status"], result["output"] = "SUCCEEDED", output
		logLine("INFO", fmt.Sprintf("%d lines, %d words, %d bytes", output.Lines, output.Words, output.Bytes))
	}
	result["finished_at"] = time.Now().UTC().Format(time.RFC3339Nano)
	result["exit_code"] = code

	bucket := os.Getenv("RESULTS_BUCKET")
	if jobID == "" || bucket == "" {
		logLine("WARNING", "OVERLORD_JOB_ID or RESULTS_BUCKET not set; result not written")
		return code
	}
	body, _ := json.Marshal(result)
	key := fmt.Sprintf("results/%s/%s.json", jobID, batchJobID)
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(string(body)), ContentType: aws.String("application/json"),
	})
	if err != nil {
		logLine("ERROR", "could not write the result: "+err.Error())
		if code == exitOK {
			code = exitFailed
		}
	}
	return code
}

func main() { os.Exit(run()) }
