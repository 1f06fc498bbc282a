/* HTTP-date formatting and parsing (RFC 9110 5.6.7), without locale or libc time zones. */
#include "eddy/http.h"

#include <errno.h>
#include <string.h>

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void eddy_http_date_format(time_t t, char out[EDDY_HTTP_DATE_LEN + 1])
{
    int64_t secs = (int64_t)t, days = secs / 86400, rem = secs % 86400, y;
    unsigned m, d;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* not representable in four digits: clamp */
        y = y < 0 ? 0 : 9999;
    }
    unsigned wd = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    memcpy(out, wdays[wd], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, months[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, (unsigned)(y / 100));
    put2(out + 14, (unsigned)(y % 100));
    out[16] = ' ';
    put2(out + 17, (unsigned)(rem / 3600));
    out[19] = ':';
    put2(out + 20, (unsigned)(rem / 60 % 60));
    out[22] = ':';
    put2(out + 23, (unsigned)(rem % 60));
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

/* A tiny cursor over the input; every reader fails softly by returning -1. */
struct cur {
    const char *p, *end;
};

static int lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* Exactly n digits (n = 0: one or more, at most 9). */
static int digits(struct cur *c, int n, int *out)
{
    int v = 0, k = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && (n == 0 ? k < 9 : k < n)) {
        v = v * 10 + (*c->p++ - '0');
        k++;
    }
    if (k == 0 || (n && k != n))
        return -1;
    *out = v;
    return 0;
}

static int month(struct cur *c, int *out)
{
    if (c->end - c->p < 3)
        return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(c->p, months[i], 3) == 0) {
            c->p += 3;
            *out = i + 1;
            return 0;
        }
    return -1;
}

static int hms(struct cur *c, int *h, int *mi, int *s)
{
    if (digits(c, 2, h) || lit(c, ":") || digits(c, 2, mi) || lit(c, ":") || digits(c, 2, s))
        return -1;
    return 0;
}

/* Skips a day name: three letters for IMF-fixdate/asctime, the long name for RFC 850. */
static int day_name(struct cur *c, int long_form)
{
    static const char *const longs[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
    for (int i = 0; i < 7; i++) {
        struct cur t = *c;
        if (lit(&t, long_form ? longs[i] : wdays[i]) == 0) {
            *c = t;
            return 0;
        }
    }
    return -1;
}

int eddy_http_date_parse(const char *s, size_t len, time_t *out)
{
    struct cur c = {s, s + len}, t;
    int y, mo, d, h, mi, sec;
    t = c;
    if (day_name(&t, 0) == 0 && lit(&t, ", ") == 0) { /* Sun, 06 Nov 1994 08:49:37 GMT */
        if (digits(&t, 2, &d) || lit(&t, " ") || month(&t, &mo) || lit(&t, " ") ||
            digits(&t, 4, &y) || lit(&t, " ") || hms(&t, &h, &mi, &sec) || lit(&t, " GMT"))
            return -EINVAL;
    } else if (t = c, day_name(&t, 1) == 0 && lit(&t, ", ") == 0) { /* Sunday, 06-Nov-94 ... */
        if (digits(&t, 2, &d) || lit(&t, "-") || month(&t, &mo) || lit(&t, "-") ||
            digits(&t, 2, &y) || lit(&t, " ") || hms(&t, &h, &mi, &sec) || lit(&t, " GMT"))
            return -EINVAL;
        y += y < 70 ? 2000 : 1900; /* RFC 9110: a year more than 50 years ahead is past */
    } else if (t = c, day_name(&t, 0) == 0 && lit(&t, " ") == 0) { /* Sun Nov  6 08:49:37 1994 */
        if (month(&t, &mo) || lit(&t, " "))
            return -EINVAL;
        if (t.p < t.end && *t.p == ' ')
            t.p++;
        if (digits(&t, 0, &d) || d > 31 || lit(&t, " ") || hms(&t, &h, &mi, &sec) || lit(&t, " ") ||
            digits(&t, 4, &y))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (t.p != t.end || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    *out =
        (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec);
    return 0;
}
