# A new backup every week: time_rotating changes its id once a week, and a changed
# trigger replaces the resource, which takes a new backup.
resource "time_rotating" "weekly" {
  rotation_days = 7
}

# Running configuration to the local store only, with a diff against the previous
# backup; the line that changes on every save takes no part in the comparison.
resource "infrabackup_aruba_conductor_backup" "mc1" {
  host         = "mc1.example.net"
  trigger      = time_rotating.weekly.id
  ignore_lines = ["^! Last configuration change at "]
}

output "mc1_changes" {
  value = {
    changed = infrabackup_aruba_conductor_backup.mc1.running_config_changed
    added   = infrabackup_aruba_conductor_backup.mc1.lines_added # null for a first backup
    removed = infrabackup_aruba_conductor_backup.mc1.lines_removed
    diff    = infrabackup_aruba_conductor_backup.mc1.running_config_diff_path
  }
}

# Running configuration and flash archive, pushed by the conductor to an SCP server
# and verified over SFTP (host key checked); what the SFTP read verifies is copied
# into the backup store too (copy_to_store, on by default), so the store holds the
# whole backup.
resource "infrabackup_aruba_conductor_backup" "mc2" {
  host    = "10.0.0.12"
  name    = "mc2-dc1"
  trigger = time_rotating.weekly.id

  scp = {
    host                = "10.0.0.100"
    username            = "mcbackup"
    password_wo         = var.scp_password
    password_wo_version = 1
    remote_dir          = "conductors"
    host_key            = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJf7m2hW0s7s0d3a1n0tAreAlKeyJust4nExampleXyZ"
    copy_to_store       = true # the default; false keeps the files on the SCP server only
  }

  timeouts = {
    create = "20m"
  }
}

variable "scp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
