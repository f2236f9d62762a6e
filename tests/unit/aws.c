/*
 * aws.c: the AWS client's configuration logic, without a network: S3
 * addressing (virtual-hosted on AWS, path-style for an endpoint or a
 * dotted bucket), key encoding in URLs, the region's sources, the region
 * of an SQS queue URL, credentials from the environment and from profile
 * files (never printing the secret), XML entity decoding. Prints TAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws.h"
#include "s3.h"
#include "sqs.h"
#include "tap.h"


static void
is(const char *got, const char *want, const char *what)
{
	int c = got && want && strcmp(got, want) == 0;
	printf("%sok %d - %s\n", c ? "" : "not ", ++tap_n, what);
	if (!c) {
		printf("#   got:      %s\n#   expected: %s\n", got ? got : "(null)",
		    want ? want : "(null)");
		tap_fail++;
	}
}

static void
objurl(const char *url, const char *key, const char *want, const char *what)
{
	char err[IR_ERRMAX], *u = NULL;
	if (ir_s3_object_url(url, key, &u, err) != IR_OK)
		printf("# %s\n", err);
	is(u, want, what);
	free(u);
}

static void
region(const char *want, const char *what)
{
	struct ir_aws *a;
	char err[IR_ERRMAX];
	if (ir_aws_open("s3", NULL, &a, err) != IR_OK) {
		printf("# %s\n", err);
		ok(0, "%s", what);
		return;
	}
	is(ir_aws_region(a), want, what);
	ir_aws_close(a);
}

static void
clean_env(const char *dir)
{
	static const char *vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_ENDPOINT_URL_SQS", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	};
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
		unsetenv(vars[i]);
	char p[512];
	setenv("HOME", dir, 1);
	snprintf(p, sizeof p, "%s/credentials", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
	snprintf(p, sizeof p, "%s/config", dir);
	setenv("AWS_CONFIG_FILE", p, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	ir_aws_forget_credentials();
}

static void
writefile(const char *dir, const char *name, const char *text)
{
	char p[512], err[IR_ERRMAX];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (ir_write_file_atomic(p, text, strlen(text), err) != IR_OK)
		printf("# %s\n", err);
}

static void
whoami(const char *want_src, const char *want_akid, int want_rc,
    const char *what)
{
	char src[400] = "", akid[200] = "", err[IR_ERRMAX] = "";
	long long exp = -1;
	ir_aws_forget_credentials();
	int rc = ir_aws_whoami(src, sizeof src, akid, sizeof akid, &exp, err);
	if (want_rc != IR_OK) {
		ok(rc == want_rc, "%s", what);
		if (rc != want_rc)
			printf("# rc %d: %s\n", rc, err);
		printf("# %s\n", err);
		ok(!strstr(err, "SECRETENV") && !strstr(err, "SECRETD") &&
		    !strstr(err, "SECRETW") && !strstr(err, "SECRETC"),
		    "the error has no secret");
		return;
	}
	if (rc != IR_OK)
		printf("# %s\n", err);
	char got[700];
	snprintf(got, sizeof got, "%s|%s", src, akid);
	char want[700];
	snprintf(want, sizeof want, "%s|%s", want_src, want_akid);
	is(got, want, what);
}

int
main(void)
{
	char dir[] = "/tmp/ir-unit-aws.XXXXXX";
	if (!mkdtemp(dir)) {
		printf("1..1\nnot ok 1 - mkdtemp\n");
		return 1;
	}
	clean_env(dir);

	/* Addressing. */
	setenv("AWS_REGION", "eu-west-1", 1);
	objurl("s3://bkt/pre", "a b/\xc3\xbc+=&?#%.jpg",
	    "https://bkt.s3.eu-west-1.amazonaws.com/pre/a%20b/%C3%BC%2B%3D%26"
	    "%3F%23%25.jpg", "AWS: virtual-hosted, key encoded once, '/' kept");
	objurl("s3://bkt", "k", "https://bkt.s3.eu-west-1.amazonaws.com/k",
	    "no prefix");
	objurl("s3://bkt/a/b/", "k", "https://bkt.s3.eu-west-1.amazonaws.com/"
	    "a/b/k", "a prefix with a trailing slash");
	objurl("s3://my.bkt/p", "k", "https://s3.eu-west-1.amazonaws.com/"
	    "my.bkt/p/k", "a dotted bucket: path-style (TLS wildcards)");
	setenv("AWS_REGION", "cn-north-1", 1);
	objurl("s3://bkt", "k", "https://bkt.s3.cn-north-1.amazonaws.com.cn/k",
	    "China regions: amazonaws.com.cn");
	setenv("AWS_REGION", "eu-west-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999/", 1);
	objurl("s3://bkt/p", "k", "http://127.0.0.1:9999/bkt/p/k",
	    "AWS_ENDPOINT_URL: path-style");
	setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.test:8443", 1);
	objurl("s3://bkt/p", "x y", "https://s3.example.test:8443/bkt/p/x%20y",
	    "AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");

	char err[IR_ERRMAX], *u;
	static const char *bad[] = {
		"s3://ab", "s3://Bad_Bucket", "s3://-bkt", "s3://bkt/../x",
		"s3://bkt/a//b", "s3:/bkt", "s3://",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char w[128];
		snprintf(w, sizeof w, "refused: %s", bad[i]);
		ok(ir_s3_object_url(bad[i], "k", &u, err) == IR_EINVAL, "%s",
		    w);
	}
	setenv("AWS_ENDPOINT_URL_S3", "ftp://x", 1);
	ok(ir_s3_object_url("s3://bkt", "k", &u, err) == IR_EINVAL &&
	    strstr(err, "ftp://x"), "an endpoint that is not http(s) is refused");
	unsetenv("AWS_ENDPOINT_URL_S3");

	/* Region sources. */
	unsetenv("AWS_REGION");
	region("us-east-1", "no region anywhere: us-east-1");
	writefile(dir, "config", "[default]\nregion = ap-south-1\n"
	    "[profile other]\nregion=sa-east-1\n");
	region("ap-south-1", "the default profile's region in the config file");
	setenv("AWS_PROFILE", "other", 1);
	region("sa-east-1", "[profile other] for AWS_PROFILE=other");
	setenv("AWS_DEFAULT_REGION", "eu-north-1", 1);
	region("eu-north-1", "AWS_DEFAULT_REGION over the config file");
	setenv("AWS_REGION", "eu-central-1", 1);
	region("eu-central-1", "AWS_REGION over AWS_DEFAULT_REGION");
	unsetenv("AWS_PROFILE");

	/* SQS queue URLs. */
	char r[64];
	ok(ir_sqs_url_region("https://sqs.ap-southeast-2.amazonaws.com/1234/q",
	    r, sizeof r) && strcmp(r, "ap-southeast-2") == 0,
	    "region of https://sqs.ap-southeast-2.amazonaws.com/1234/q");
	ok(ir_sqs_url_region("https://us-west-2.queue.amazonaws.com/1234/q", r,
	    sizeof r) && strcmp(r, "us-west-2") == 0,
	    "region of the legacy us-west-2.queue.amazonaws.com");
	ok(ir_sqs_url_region("https://sqs.cn-north-1.amazonaws.com.cn/1/q", r,
	    sizeof r) && strcmp(r, "cn-north-1") == 0, "region of a China URL");
	ok(!ir_sqs_url_region("http://127.0.0.1:4566/000000000000/q", r,
	    sizeof r), "a compatible server's URL has no region");

	/* Credentials. */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	whoami("environment", "AKIAENV", IR_OK, "keys from the environment");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	whoami(NULL, NULL, IR_EAUTH, "a key id without a secret is an error");
	unsetenv("AWS_ACCESS_KEY_ID");
	writefile(dir, "credentials", "# comment\n[default]\n"
	    "aws_access_key_id = AKIADEFAULT\naws_secret_access_key = SECRETD\n"
	    "\n[work]\naws_access_key_id=AKIAWORK\n"
	    "aws_secret_access_key=SECRETW\naws_session_token = TOKW\n"
	    "[half]\naws_access_key_id=AKIAHALF\n");
	writefile(dir, "config", "[profile cfg]\naws_access_key_id = AKIACFG\n"
	    "aws_secret_access_key = SECRETC\n[profile role]\n"
	    "role_arn = arn:aws:iam::1:role/x\n");
	whoami("profile default", "AKIADEFAULT", IR_OK,
	    "the default profile of the credentials file");
	setenv("AWS_PROFILE", "work", 1);
	whoami("profile work", "AKIAWORK", IR_OK, "AWS_PROFILE=work");
	setenv("AWS_PROFILE", "cfg", 1);
	whoami("profile cfg", "AKIACFG", IR_OK,
	    "keys in the config file's [profile cfg]");
	setenv("AWS_PROFILE", "half", 1);
	whoami(NULL, NULL, IR_EAUTH, "a profile with a key id only");
	setenv("AWS_PROFILE", "role", 1);
	whoami(NULL, NULL, IR_EAUTH, "a role profile: not supported, said so");
	setenv("AWS_PROFILE", "nope", 1);
	whoami(NULL, NULL, IR_EAUTH, "a missing profile");
	unsetenv("AWS_PROFILE");
	writefile(dir, "credentials", "");
	whoami(NULL, NULL, IR_EAUTH, "no credentials, metadata disabled");

	/* XML entities. */
	const char *x = "a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x4E2D;&bogus;&";
	char *d = ir_aws_xml_unescape(x, strlen(x));
	is(d, "a&b<c>\"'\xc3\xa9\xe4\xb8\xad&bogus;&", "XML entities decoded");
	free(d);

	ir_aws_forget_credentials();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
