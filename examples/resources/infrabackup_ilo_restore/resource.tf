# Restoring is destructive: it overwrites the iLO's configuration and resets the iLO.
# Keep restores in a configuration of their own that is applied on purpose (after a
# battery failure, a factory reset, a wrong change or a system board replacement), not
# in the configuration that takes backups on a schedule: every change of backup_file
# or trigger restores again.

# Restore the latest backup of web01's iLO from the backup store (a local folder or
# an S3 bucket: the backup is streamed from the bucket and checked against the
# SHA-256 recorded when it was taken). backup_key = <the files[0].key> works too.
data "infrabackup_ilo_backup" "web01" {
  host = "web01-ilo.example.net"
}

resource "infrabackup_ilo_restore" "web01" {
  host      = "web01-ilo.example.net"
  backup_id = data.infrabackup_ilo_backup.web01.id

  # A newer backup in the store must not restore again by itself.
  lifecycle {
    ignore_changes = [backup_id]
  }
}

# A password-protected backup file onto a replaced system board, whose serial number
# no longer matches the backup's. Bump trigger to restore the same file again.
resource "infrabackup_ilo_restore" "db01" {
  host        = "10.0.20.31"
  port        = 8443
  backup_file = "/srv/backups/ilo/db01-ilo/20250301T020000.000Z-ilo-backup.bak"
  trigger     = "2025-03-04 board replacement"

  backup_password_wo     = var.ilo_backup_password
  allow_different_server = true

  timeouts = {
    create = "30m"
  }
}

variable "ilo_backup_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
