<#
.SYNOPSIS
    Registers the daily run of the Community Programs Toolkit with Windows Task Scheduler.

.DESCRIPTION
    Creates (or replaces) a task that runs scripts\windows\run-daily.cmd every day at the
    given time, whether or not the user is logged on. A start missed while the computer was
    off runs as soon as it is back; a run still going when the next is due is left alone.
    Run it once, in PowerShell, as the account that owns the output folder.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File scripts\windows\register-task.ps1 `
        -Config C:\tpd-programs\config\programs.toml -At 05:30

.EXAMPLE
    # The output folder is on a network drive: store the account's password with the task
    # so the run can reach the share.
    powershell -ExecutionPolicy Bypass -File scripts\windows\register-task.ps1 -WithPassword
#>
param(
    # The configuration file (default: config\programs.toml in the toolkit's folder).
    [string]$Config = "",
    # Time of day, 24-hour clock.
    [string]$At = "05:30",
    [string]$TaskName = "TPD Community Programs daily run",
    # The account the task runs as (default: the current user).
    [string]$User = "$env:USERDOMAIN\$env:USERNAME",
    # Ask for the account's password and store it with the task (needed for network drives).
    [switch]$WithPassword
)
$ErrorActionPreference = "Stop"

$root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
if (-not $Config) { $Config = Join-Path $root "config\programs.toml" }
$Config = (Resolve-Path $Config).Path
$wrapper = Join-Path $PSScriptRoot "run-daily.cmd"

$action = New-ScheduledTaskAction -Execute "cmd.exe" `
    -Argument "/d /c `"`"$wrapper`" `"$Config`"`"" -WorkingDirectory $root
$trigger = New-ScheduledTaskTrigger -Daily -At $At
$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -MultipleInstances IgnoreNew `
    -ExecutionTimeLimit (New-TimeSpan -Hours 2) -RunOnlyIfNetworkAvailable
$description = "Community Programs Toolkit: sync, rosters, confirmations and route sheets. " +
    "Exit code 0 = done, 1 = a step failed (see the log in the output folder's logs\ folder), " +
    "3 = the previous run was still going."

if ($WithPassword) {
    $credential = Get-Credential -UserName $User -Message "Password of $User, stored with the task"
    Register-ScheduledTask -TaskName $TaskName -Description $description -Action $action `
        -Trigger $trigger -Settings $settings -User $User `
        -Password $credential.GetNetworkCredential().Password -RunLevel Limited -Force | Out-Null
} else {
    # S4U: runs whether or not the user is logged on, without storing a password.
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType S4U -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Description $description -Action $action `
        -Trigger $trigger -Settings $settings -Principal $principal -Force | Out-Null
}
Write-Host "Registered '$TaskName': every day at $At, $wrapper $Config"
Write-Host "Try it now with: Start-ScheduledTask -TaskName '$TaskName'"
Write-Host "Then look at the task's Last Run Result (0 = done) and the log file."
