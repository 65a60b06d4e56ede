/* test_sigv4.c — the SigV4 signer against AWS's published vectors.
 *
 * Two sources, both AWS's own: the aws-sig-v4-test-suite (service "service",
 * us-east-1, 20150830T123600Z, key AKIDEXAMPLE) with its canonical request,
 * string to sign and Authorization for each request; and the worked examples
 * of the S3 "Authenticating Requests (AWS Signature Version 4)" pages
 * (examplebucket, 20130524T000000Z, key AKIAIOSFODNN7EXAMPLE), including the
 * presigned URL. The expected strings below are copied from those vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sigv4.h"

/* ---- aws-sig-v4-test-suite ------------------------------------------------ */

#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST "example.amazonaws.com"
#define SUITE_STS_PREFIX "AWS4-HMAC-SHA256\n" SUITE_DATE "\n20150830/us-east-1/service/aws4_request\n"
#define SUITE_AUTHZ_PREFIX \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static const mc_sigv4_credentials suite_cred = {
    .access_key = "AKIDEXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "service",
};

typedef struct suite_vector {
    const char *method;
    const char *path;
    mc_sigv4_pair query[2];
    size_t query_count;
    mc_sigv4_pair headers[6];
    size_t header_count;
    const char *body;
    const char *creq;
    const char *sts;
    const char *authz;
} suite_vector;

static void check_suite_vector(const suite_vector *v) {
    char body_hash[65];
    mc_sigv4_sha256_hex(v->body, strlen(v->body), body_hash);
    mc_sigv4_request req = {
        .method = v->method,
        .path = v->path,
        .query = v->query,
        .query_count = v->query_count,
        .headers = v->headers,
        .header_count = v->header_count,
        .payload_hash = body_hash,
    };

    char *creq = mc_sigv4_canonical_request(&req);
    assert_non_null(creq);
    assert_string_equal(creq, v->creq);

    char *scope = mc_sigv4_scope(SUITE_DATE, suite_cred.region, suite_cred.service);
    char *sts = mc_sigv4_string_to_sign(SUITE_DATE, scope, creq);
    assert_string_equal(sts, v->sts);

    char *authz = mc_sigv4_authorization(&suite_cred, &req, SUITE_DATE);
    assert_non_null(authz);
    assert_string_equal(authz, v->authz);

    free(creq);
    free(scope);
    free(sts);
    free(authz);
}

#define BASIC_HEADERS {{"Host", SUITE_HOST}, {"X-Amz-Date", SUITE_DATE}}, 2

static void test_get_vanilla(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{0}}, 0, BASIC_HEADERS, "",
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    };
    check_suite_vector(&v);
}

static void test_get_vanilla_query_order_key_case(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, 2, BASIC_HEADERS, "",
        "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    };
    check_suite_vector(&v);
}

static void test_get_vanilla_query_order_key(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{"Param1", "value2"}, {"Param1", "Value1"}}, 2, BASIC_HEADERS, "",
        "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    };
    check_suite_vector(&v);
}

static void test_get_vanilla_query_order_value(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{"Param1", "value2"}, {"Param1", "value1"}}, 2, BASIC_HEADERS, "",
        "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    };
    check_suite_vector(&v);
}

#define UNRESERVED "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

static void test_get_vanilla_query_unreserved(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{UNRESERVED, UNRESERVED}}, 1, BASIC_HEADERS, "",
        "GET\n/\n" UNRESERVED "=" UNRESERVED "\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    };
    check_suite_vector(&v);
}

static void test_get_vanilla_utf8_query(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{"\xe1\x88\xb4", "bar"}}, 1, BASIC_HEADERS, "",
        "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    };
    check_suite_vector(&v);
}

static void test_get_vanilla_empty_query_key(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{"Param1", "value1"}}, 1, BASIC_HEADERS, "",
        "GET\n/\nParam1=value1\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    };
    check_suite_vector(&v);
}

static void test_get_unreserved(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/" UNRESERVED, {{0}}, 0, BASIC_HEADERS, "",
        "GET\n/" UNRESERVED "\n\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    };
    check_suite_vector(&v);
}

static void test_get_utf8(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/\xe1\x88\xb4", {{0}}, 0, BASIC_HEADERS, "",
        "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    };
    check_suite_vector(&v);
}

static void test_get_space(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/example space/", {{0}}, 0, BASIC_HEADERS, "",
        "GET\n/example%20space/\n\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    };
    check_suite_vector(&v);
}

static void test_get_header_value_trim(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{0}}, 0,
        {{"Host", SUITE_HOST}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""},
         {"X-Amz-Date", SUITE_DATE}}, 4, "",
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
        "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
        "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    };
    check_suite_vector(&v);
}

static void test_get_header_key_duplicate(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{0}}, 0,
        {{"Host", SUITE_HOST}, {"My-Header1", "value2"}, {"My-Header1", "value2"},
         {"My-Header1", "value1"}, {"X-Amz-Date", SUITE_DATE}}, 5, "",
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
        "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;my-header1;x-amz-date, "
        "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    };
    check_suite_vector(&v);
}

static void test_get_header_value_order(void **state) {
    (void)state;
    suite_vector v = {
        "GET", "/", {{0}}, 0,
        {{"Host", SUITE_HOST}, {"My-Header1", "value4"}, {"My-Header1", "value1"},
         {"My-Header1", "value3"}, {"My-Header1", "value2"}, {"X-Amz-Date", SUITE_DATE}}, 6, "",
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
        "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;my-header1;x-amz-date, "
        "Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    };
    check_suite_vector(&v);
}

static void test_post_vanilla(void **state) {
    (void)state;
    suite_vector v = {
        "POST", "/", {{0}}, 0, BASIC_HEADERS, "",
        "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    };
    check_suite_vector(&v);
}

static void test_post_vanilla_query(void **state) {
    (void)state;
    suite_vector v = {
        "POST", "/", {{"Param1", "value1"}}, 1, BASIC_HEADERS, "",
        "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;x-amz-date, "
        "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    };
    check_suite_vector(&v);
}

static void test_post_header_key_sort(void **state) {
    (void)state;
    suite_vector v = {
        "POST", "/", {{0}}, 0,
        {{"Host", SUITE_HOST}, {"My-Header1", "value1"}, {"X-Amz-Date", SUITE_DATE}}, 3, "",
        "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;my-header1;x-amz-date, "
        "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    };
    check_suite_vector(&v);
}

static void test_post_header_value_case(void **state) {
    (void)state;
    suite_vector v = {
        "POST", "/", {{0}}, 0,
        {{"Host", SUITE_HOST}, {"My-Header1", "VALUE1"}, {"X-Amz-Date", SUITE_DATE}}, 3, "",
        "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        SUITE_STS_PREFIX "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
        SUITE_AUTHZ_PREFIX "SignedHeaders=host;my-header1;x-amz-date, "
        "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    };
    check_suite_vector(&v);
}

static void test_post_x_www_form_urlencoded(void **state) {
    (void)state;
    suite_vector v = {
        "POST", "/", {{0}}, 0,
        {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", SUITE_HOST},
         {"X-Amz-Date", SUITE_DATE}}, 3, "Param1=value1",
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        SUITE_STS_PREFIX "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
        SUITE_AUTHZ_PREFIX "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    };
    check_suite_vector(&v);
}

/* ---- S3 documentation examples ------------------------------------------ */

#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_AUTHZ_PREFIX \
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "

static const mc_sigv4_credentials s3_cred = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "s3",
};

static void test_s3_get_object_range(void **state) {
    (void)state;
    const mc_sigv4_pair headers[] = {
        {"Host", S3_HOST},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", MC_SIGV4_EMPTY_SHA256},
        {"x-amz-date", S3_DATE},
    };
    mc_sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = headers,
                            .header_count = 4, .payload_hash = MC_SIGV4_EMPTY_SHA256};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *scope = mc_sigv4_scope(S3_DATE, "us-east-1", "s3");
    assert_string_equal(scope, "20130524/us-east-1/s3/aws4_request");
    char *sts = mc_sigv4_string_to_sign(S3_DATE, scope, creq);
    assert_string_equal(sts,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    char signature[65];
    assert_int_equal(mc_sigv4_signature(&s3_cred, &req, S3_DATE, signature), 0);
    assert_string_equal(signature,
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    char *authz = mc_sigv4_authorization(&s3_cred, &req, S3_DATE);
    assert_string_equal(authz, S3_AUTHZ_PREFIX
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(creq);
    free(scope);
    free(sts);
    free(authz);
}

static void test_s3_put_object(void **state) {
    (void)state;
    const char *body = "Welcome to Amazon S3.";
    char body_hash[65];
    mc_sigv4_sha256_hex(body, strlen(body), body_hash);
    assert_string_equal(body_hash,
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const mc_sigv4_pair headers[] = {
        {"Host", S3_HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", S3_DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", body_hash},
    };
    mc_sigv4_request req = {.method = "PUT", .path = "/test$file.text", .headers = headers,
                            .header_count = 5, .payload_hash = body_hash};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
        "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    char signature[65];
    assert_int_equal(mc_sigv4_signature(&s3_cred, &req, S3_DATE, signature), 0);
    assert_string_equal(signature,
                        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    free(creq);
}

static void test_s3_get_bucket_lifecycle(void **state) {
    (void)state;
    const mc_sigv4_pair query[] = {{"lifecycle", NULL}};
    const mc_sigv4_pair headers[] = {
        {"Host", S3_HOST},
        {"x-amz-date", S3_DATE},
        {"x-amz-content-sha256", MC_SIGV4_EMPTY_SHA256},
    };
    mc_sigv4_request req = {.method = "GET", .path = "/", .query = query, .query_count = 1,
                            .headers = headers, .header_count = 3,
                            .payload_hash = MC_SIGV4_EMPTY_SHA256};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char signature[65];
    assert_int_equal(mc_sigv4_signature(&s3_cred, &req, S3_DATE, signature), 0);
    assert_string_equal(signature,
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    free(creq);
}

static void test_s3_list_objects(void **state) {
    (void)state;
    const mc_sigv4_pair query[] = {{"prefix", "J"}, {"max-keys", "2"}};
    const mc_sigv4_pair headers[] = {
        {"Host", S3_HOST},
        {"x-amz-date", S3_DATE},
        {"x-amz-content-sha256", MC_SIGV4_EMPTY_SHA256},
    };
    mc_sigv4_request req = {.method = "GET", .path = "/", .query = query, .query_count = 2,
                            .headers = headers, .header_count = 3,
                            .payload_hash = MC_SIGV4_EMPTY_SHA256};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char signature[65];
    assert_int_equal(mc_sigv4_signature(&s3_cred, &req, S3_DATE, signature), 0);
    assert_string_equal(signature,
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(creq);
}

static void test_s3_presigned_url(void **state) {
    (void)state;
    const mc_sigv4_pair headers[] = {{"host", S3_HOST}};
    mc_sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = headers,
                            .header_count = 1};
    char *query = mc_sigv4_presign_query(&s3_cred, &req, S3_DATE, 86400);
    assert_non_null(query);
    assert_string_equal(query,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");

    /* the canonical request the example documents for that URL */
    const mc_sigv4_pair signed_query[] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
        {"X-Amz-Date", S3_DATE},
        {"X-Amz-Expires", "86400"},
        {"X-Amz-SignedHeaders", "host"},
    };
    req.query = signed_query;
    req.query_count = 5;
    req.payload_hash = MC_SIGV4_UNSIGNED_PAYLOAD;
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "GET\n/test.txt\n"
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    char *scope = mc_sigv4_scope(S3_DATE, "us-east-1", "s3");
    char *sts = mc_sigv4_string_to_sign(S3_DATE, scope, creq);
    assert_string_equal(sts,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    free(query);
    free(creq);
    free(scope);
    free(sts);
}

/* ---- building blocks ----------------------------------------------------- */

static void test_uri_encode(void **state) {
    (void)state;
    char *s = mc_sigv4_uri_encode("videos/a b+c/\xc3\xbc=&%.mp4", true);
    assert_string_equal(s, "videos/a%20b%2Bc/%C3%BC%3D%26%25.mp4");
    free(s);
    s = mc_sigv4_uri_encode("a/b c~", false);
    assert_string_equal(s, "a%2Fb%20c~");
    free(s);
    s = mc_sigv4_uri_encode("", true);
    assert_string_equal(s, "");
    free(s);
}

static void test_s3_path_is_not_normalised(void **state) {
    (void)state;
    /* S3 keys may hold "//" and "." segments: they are signed as written */
    const mc_sigv4_pair headers[] = {{"host", "h"}};
    mc_sigv4_request req = {.method = "GET", .path = "/b/a//./../k", .headers = headers,
                            .header_count = 1, .payload_hash = MC_SIGV4_UNSIGNED_PAYLOAD};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq, "GET\n/b/a//./../k\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    free(creq);
}

static void test_signed_headers_dedupe_and_sort(void **state) {
    (void)state;
    const mc_sigv4_pair headers[] = {
        {"X-Amz-Date", "d"}, {"Host", "h"}, {"x-amz-meta-a", "1"}, {"X-AMZ-META-A", "2"}};
    char *s = mc_sigv4_signed_headers(headers, 4);
    assert_string_equal(s, "host;x-amz-date;x-amz-meta-a");
    free(s);
}

static void test_blank_only_header_value(void **state) {
    (void)state;
    const mc_sigv4_pair headers[] = {{"host", "h"}, {"x-amz-meta-empty", " \t "}};
    mc_sigv4_request req = {.method = "PUT", .path = "/k", .headers = headers,
                            .header_count = 2, .payload_hash = MC_SIGV4_UNSIGNED_PAYLOAD};
    char *creq = mc_sigv4_canonical_request(&req);
    assert_string_equal(creq,
        "PUT\n/k\n\nhost:h\nx-amz-meta-empty:\n\nhost;x-amz-meta-empty\nUNSIGNED-PAYLOAD");
    free(creq);
}

static void test_amz_date(void **state) {
    (void)state;
    char date[MC_SIGV4_AMZ_DATE_LEN + 1];
    mc_sigv4_amz_date(1369353600, date); /* 2013-05-24T00:00:00Z */
    assert_string_equal(date, "20130524T000000Z");
    mc_sigv4_amz_date(1440938160, date); /* 2015-08-30T12:36:00Z */
    assert_string_equal(date, "20150830T123600Z");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_get_vanilla_query_order_key_case),
        cmocka_unit_test(test_get_vanilla_query_order_key),
        cmocka_unit_test(test_get_vanilla_query_order_value),
        cmocka_unit_test(test_get_vanilla_query_unreserved),
        cmocka_unit_test(test_get_vanilla_utf8_query),
        cmocka_unit_test(test_get_vanilla_empty_query_key),
        cmocka_unit_test(test_get_unreserved),
        cmocka_unit_test(test_get_utf8),
        cmocka_unit_test(test_get_space),
        cmocka_unit_test(test_get_header_value_trim),
        cmocka_unit_test(test_get_header_key_duplicate),
        cmocka_unit_test(test_get_header_value_order),
        cmocka_unit_test(test_post_vanilla),
        cmocka_unit_test(test_post_vanilla_query),
        cmocka_unit_test(test_post_header_key_sort),
        cmocka_unit_test(test_post_header_value_case),
        cmocka_unit_test(test_post_x_www_form_urlencoded),
        cmocka_unit_test(test_s3_get_object_range),
        cmocka_unit_test(test_s3_put_object),
        cmocka_unit_test(test_s3_get_bucket_lifecycle),
        cmocka_unit_test(test_s3_list_objects),
        cmocka_unit_test(test_s3_presigned_url),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_s3_path_is_not_normalised),
        cmocka_unit_test(test_signed_headers_dedupe_and_sort),
        cmocka_unit_test(test_blank_only_header_value),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
