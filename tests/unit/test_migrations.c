/* Unit tests of the pure part of schema migrations: the list embedded at
 * build time matches the files in common/migrations, is ordered and
 * contiguous with correct checksums; the applied-checksum check; and the
 * splitting of migration SQL into statements. */
#include <dirent.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/migrate.h"

#define MIGRATIONS_DIR MCLOUD_SOURCE_DIR "/common/migrations"

/* The checksum of 0001_initial.sql as first released. If this fails, an
 * applied migration was edited: every database that ran it would refuse to
 * start. Revert the edit and add a new migration instead. */
#define INITIAL_CHECKSUM "abeff081324ff531fc3c1d1a7d71e451f6c076b70bc34591aae25e529cd7df0d"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void sha256_hex(const char *data, size_t len, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void embedded_versions_are_ordered_unique_and_contiguous(void **state) {
    (void)state;
    assert_true(mc_migrations_count >= 1);
    for (size_t i = 0; i < mc_migrations_count; i++) {
        assert_int_equal(mc_migrations[i].version, i + 1);
        for (size_t j = i + 1; j < mc_migrations_count; j++)
            assert_int_not_equal(mc_migrations[i].version, mc_migrations[j].version);
    }
    mc_err err = {0};
    assert_int_equal(mc_migrations_validate(mc_migrations, mc_migrations_count, &err), 0);
}

static void each_migration_names_its_file_and_embeds_it_verbatim(void **state) {
    (void)state;
    for (size_t i = 0; i < mc_migrations_count; i++) {
        const mc_migration *m = &mc_migrations[i];
        char expected[300];
        snprintf(expected, sizeof expected, "%04u_%s.sql", m->version, m->name);
        assert_string_equal(m->file, expected);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", MIGRATIONS_DIR, m->file);
        size_t len;
        char *content = read_file(path, &len);
        assert_non_null(content);
        assert_int_equal(strlen(m->sql), len);
        assert_memory_equal(m->sql, content, len);
        free(content);
    }
}

static void every_sql_file_on_disk_is_embedded(void **state) {
    (void)state;
    DIR *dir = opendir(MIGRATIONS_DIR);
    assert_non_null(dir);
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".sql") != 0) continue;
        files++;
        int found = 0;
        for (size_t i = 0; i < mc_migrations_count; i++)
            found |= strcmp(mc_migrations[i].file, de->d_name) == 0;
        if (!found) fail_msg("%s is not embedded", de->d_name);
    }
    closedir(dir);
    assert_int_equal(files, mc_migrations_count);
}

static void checksums_are_sha256_of_the_sql_and_stable(void **state) {
    (void)state;
    for (size_t i = 0; i < mc_migrations_count; i++) {
        char hex[65];
        sha256_hex(mc_migrations[i].sql, strlen(mc_migrations[i].sql), hex);
        assert_string_equal(mc_migrations[i].checksum, hex);
    }
    assert_string_equal(mc_migrations[0].file, "0001_initial.sql");
    assert_string_equal(mc_migrations[0].checksum, INITIAL_CHECKSUM);
}

#define SUM_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SUM_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void validate_rejects_gaps_duplicates_and_bad_entries(void **state) {
    (void)state;
    mc_err err = {0};
    const mc_migration good[] = {{1, "a", "0001_a.sql", "SELECT 1", SUM_A},
                                 {2, "b", "0002_b.sql", "SELECT 2", SUM_B}};
    assert_int_equal(mc_migrations_validate(good, 2, &err), 0);

    const mc_migration gap[] = {{1, "a", "0001_a.sql", "SELECT 1", SUM_A},
                                {3, "c", "0003_c.sql", "SELECT 3", SUM_B}};
    assert_int_equal(mc_migrations_validate(gap, 2, &err), -1);
    assert_non_null(strstr(err.msg, "0003_c.sql"));

    const mc_migration dup[] = {{1, "a", "0001_a.sql", "SELECT 1", SUM_A},
                                {1, "b", "0001_b.sql", "SELECT 2", SUM_B}};
    assert_int_equal(mc_migrations_validate(dup, 2, &err), -1);

    const mc_migration from_two[] = {{2, "b", "0002_b.sql", "SELECT 2", SUM_B}};
    assert_int_equal(mc_migrations_validate(from_two, 1, &err), -1);

    const mc_migration misnamed[] = {{1, "a", "0001_other.sql", "SELECT 1", SUM_A}};
    assert_int_equal(mc_migrations_validate(misnamed, 1, &err), -1);

    const mc_migration bad_sum[] = {{1, "a", "0001_a.sql", "SELECT 1", "ABC"}};
    assert_int_equal(mc_migrations_validate(bad_sum, 1, &err), -1);

    assert_int_equal(mc_migrations_validate(good, 0, &err), -1);
}

static void edited_applied_migration_is_refused_with_a_clear_error(void **state) {
    (void)state;
    const mc_migration list[] = {{1, "a", "0001_a.sql", "SELECT 1", SUM_A},
                                 {2, "b", "0002_b.sql", "SELECT 2", SUM_B}};
    mc_err err = {0};

    mc_applied_migration same[] = {{1, SUM_A}, {2, SUM_B}};
    assert_int_equal(mc_migrations_check_applied(list, 2, same, 2, &err), 0);

    mc_applied_migration newer[] = {{1, SUM_A}, {2, SUM_B}, {3, SUM_A}};
    assert_int_equal(mc_migrations_check_applied(list, 2, newer, 3, &err), 0);

    mc_applied_migration edited[] = {{1, SUM_A}, {2, SUM_A}};
    assert_int_equal(mc_migrations_check_applied(list, 2, edited, 2, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "0002_b.sql"));
    assert_non_null(strstr(err.msg, SUM_A));
    assert_non_null(strstr(err.msg, SUM_B));
    assert_non_null(strstr(err.msg, "never be edited"));
}

/* Splits sql and checks the statements against the NULL-terminated list. */
static void assert_split(const char *sql, ...) {
    va_list ap;
    va_start(ap, sql);
    const char *cursor = sql, *start;
    size_t len;
    const char *want;
    while ((want = va_arg(ap, const char *))) {
        if (!mc_sql_next_statement(&cursor, &start, &len)) fail_msg("missing statement '%s'", want);
        if (len != strlen(want) || memcmp(start, want, len) != 0)
            fail_msg("got '%.*s', want '%s'", (int)len, start, want);
    }
    va_end(ap);
    if (mc_sql_next_statement(&cursor, &start, &len))
        fail_msg("unexpected statement '%.*s'", (int)len, start);
}

static void statements_split_at_top_level_semicolons(void **state) {
    (void)state;
    assert_split("CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n",
                 "CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)", NULL);
    assert_split("SELECT 1", "SELECT 1", NULL);
    assert_split("  SELECT 1  ;;  SELECT 2 ;", "SELECT 1", "SELECT 2", NULL);
    assert_split("", NULL);
    assert_split(" \n\t ; ", NULL);
}

static void quoted_semicolons_do_not_split(void **state) {
    (void)state;
    assert_split("INSERT INTO t VALUES ('a;b', \"c;d\"); SELECT `e;f` FROM t",
                 "INSERT INTO t VALUES ('a;b', \"c;d\")", "SELECT `e;f` FROM t", NULL);
    assert_split("SELECT 'it''s; fine', 'back\\'slash;'; SELECT 2",
                 "SELECT 'it''s; fine', 'back\\'slash;'", "SELECT 2", NULL);
    assert_split("SELECT `a``;b`; SELECT 3", "SELECT `a``;b`", "SELECT 3", NULL);
}

static void comments_are_skipped_and_do_not_split(void **state) {
    (void)state;
    assert_split("-- a; comment\n# another; one\n/* block; */ SELECT 1 -- trailing;\n; /* end */\n",
                 "SELECT 1", NULL);
    assert_split("SELECT 1 /* inner; */ + 2; -- only a comment;", "SELECT 1 /* inner; */ + 2", NULL);
    assert_split("SELECT 1--2; SELECT 2", "SELECT 1--2", "SELECT 2", NULL);
    assert_split("-- just a comment", NULL);
}

static void embedded_migrations_split_into_nonempty_statements(void **state) {
    (void)state;
    for (size_t i = 0; i < mc_migrations_count; i++) {
        const char *cursor = mc_migrations[i].sql, *start;
        size_t len;
        int n = 0;
        while (mc_sql_next_statement(&cursor, &start, &len)) {
            assert_true(len > 0);
            n++;
        }
        assert_true(n >= 1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embedded_versions_are_ordered_unique_and_contiguous),
        cmocka_unit_test(each_migration_names_its_file_and_embeds_it_verbatim),
        cmocka_unit_test(every_sql_file_on_disk_is_embedded),
        cmocka_unit_test(checksums_are_sha256_of_the_sql_and_stable),
        cmocka_unit_test(validate_rejects_gaps_duplicates_and_bad_entries),
        cmocka_unit_test(edited_applied_migration_is_refused_with_a_clear_error),
        cmocka_unit_test(statements_split_at_top_level_semicolons),
        cmocka_unit_test(quoted_semicolons_do_not_split),
        cmocka_unit_test(comments_are_skipped_and_do_not_split),
        cmocka_unit_test(embedded_migrations_split_into_nonempty_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
