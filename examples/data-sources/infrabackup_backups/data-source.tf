# The state of every backup in the store: read from the store only (one listing),
# no device is contacted.
data "infrabackup_backups" "all" {
  max_age = "8d" # a weekly backup plus a day of slack
  # kinds      = ["ilo"]           # only some kinds of device
  # name_regex = "^site-a-"        # only some devices, by folder name
}

# Warn on every plan and apply when a device has no backup younger than max_age, or
# its last attempt failed. A failed check is a warning: it never blocks an apply.
check "backups_are_fresh" {
  assert {
    condition = data.infrabackup_backups.all.totals.stale == 0
    error_message = format("No backup within 8 days: %s.", join(", ", [
      for d in data.infrabackup_backups.all.devices :
      "${d.kind}/${d.name} (${try("last ${d.latest_backup.age} ago", "never backed up")})" if d.stale
    ]))
  }
  assert {
    condition = data.infrabackup_backups.all.totals.failed == 0
    error_message = format("Last backup attempt failed: %s.", join("; ", [
      for d in data.infrabackup_backups.all.devices :
      "${d.kind}/${d.name} at step ${try(d.last_attempt.step, "?")}" if d.failed
    ]))
  }
}

output "backup_totals" {
  value = data.infrabackup_backups.all.totals # devices, ok, backed_up, stale, failed
}

# The weekly report, for a CI job summary or a chat message, and for a CI system's
# test report view (one test case per device).
output "backup_summary" {
  value = data.infrabackup_backups.all.summary_markdown
}

output "backup_junit" {
  value = data.infrabackup_backups.all.junit_xml
}
