/*
 * events.c - a log of one-letter events that handlers and thread code append
 * to, for checking the order in which exceptions were taken.
 *
 * Design decision: the log is fixed-size and silently stops at capacity; a
 * full log then simply fails the comparison with the expected string, which
 * prints what was recorded.
 */
#include "rom.h"

#define EVENT_LOG_CAPACITY 31

static volatile char event_log[EVENT_LOG_CAPACITY + 1];
static volatile unsigned event_count;

void log_event(char event)
{
    if (event_count < EVENT_LOG_CAPACITY)
        event_log[event_count++] = event;
}

unsigned logged_event_count(void)
{
    return event_count;
}

void expect_events_at(const char *expected, const char *what, int line)
{
    unsigned n = 0;
    while (expected[n] != '\0')
        n++;
    event_log[event_count] = '\0';
    bool same = event_count == n;
    for (unsigned i = 0; same && i < n; i++)
        same = event_log[i] == expected[i];
    if (!same)
        fail("%s: events \"%s\", expected \"%s\" (line %d)", what, (const char *)event_log,
             expected, line);
    event_count = 0;
}
