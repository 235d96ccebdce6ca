# A new backup every week: time_rotating changes its id once a week, and a changed
# trigger replaces the resource, which takes a new backup. Old backups stay in the
# store (destroying the resource never deletes them).
resource "time_rotating" "weekly" {
  rotation_days = 7
}

# Backups land in <backup_dir>/ilo/<serial number>/ by default.
resource "infrabackup_ilo_backup" "web01" {
  host    = "web01-ilo.example.net"
  trigger = time_rotating.weekly.id
}

# A password-protected backup in a folder of your choosing. The iLO encrypts the
# backup with the password, and restores it only with the same password: keep the
# password with the backup. Bump backup_password_wo_version when the password changes
# (it takes a new backup protected by the new one).
resource "infrabackup_ilo_backup" "db01" {
  host    = "10.0.20.31"
  port    = 8443
  name    = "db01-ilo"
  trigger = time_rotating.weekly.id

  backup_password_wo         = var.ilo_backup_password
  backup_password_wo_version = 1

  timeouts = {
    create = "10m"
  }
}

variable "ilo_backup_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

# A fleet whose iLOs each have their own password. The hosts are plain configuration;
# the passwords come from a map kept in a secret store and reach each backup through
# the write-only password_wo, so they are never written to plan or state. Here the map
# is an ephemeral variable (TF_VAR_ilo_passwords='{"web01":"...","db01":"..."}' from the
# pipeline's secret store); an ephemeral resource of a secret store's provider, such as
# a key-value secret read at apply, serves as well. The user name comes from the
# provider's ilo block (or ILO_USERNAME) unless a resource sets username.
# Bump password_wo_version when passwords rotate: it records the change without
# taking a new backup.
locals {
  ilos = {
    web01 = "web01-ilo.example.net"
    db01  = "db01-ilo.example.net"
  }
}

variable "ilo_passwords" {
  type      = map(string)
  sensitive = true
  ephemeral = true
}

resource "infrabackup_ilo_backup" "fleet" {
  for_each = local.ilos

  host                = each.value
  trigger             = time_rotating.weekly.id
  password_wo         = var.ilo_passwords[each.key]
  password_wo_version = 1
}
