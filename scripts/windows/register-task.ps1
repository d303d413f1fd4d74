<#
.SYNOPSIS
    Registers the daily run of the Community Programs Toolkit with Windows Task Scheduler.

.DESCRIPTION
    Creates (or replaces) a task that runs scripts\windows\run-daily.cmd every day at the
    given time, whether or not the user is logged on, and on battery power too. A start
    missed while the computer was off runs as soon as it is back; a run still going when the
    next is due is left alone. Run it once, in PowerShell, as the account that owns the
    output folder.

    How the task logs on:
    - by default S4U: no password is stored, but the task has no network credentials, so it
      cannot reach a \\server\share (configuration, output folder, export files, the
      Google key) or a proxy that asks for a Windows login;
    - with -WithPassword, logon type Password: the account's password is stored with the
      task (Windows keeps it encrypted), the share and the proxy work, and the task must be
      registered again each time that password changes.
    Drive letters mapped at logon (H:) do not exist in the task's session at all, whichever
    the logon: this script refuses them; write \\server\share\... paths instead, in
    programs.toml too.

    Everything the run prints goes to run-daily.log in the output folder's logs folder.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File scripts\windows\register-task.ps1 `
        -Config C:\tpd-programs\config\programs.toml -At 05:30

.EXAMPLE
    # The output folder is on a file server (\\server\share\...): store the account's
    # password with the task so the run can reach the share.
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
    # Ask for the account's password and store it with the task (logon type Password):
    # needed when anything the run reads or writes is on a \\server\share, or a proxy
    # needs a Windows login.
    [switch]$WithPassword
)
$ErrorActionPreference = "Stop"

$root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
if (-not $Config) { $Config = Join-Path $root "config\programs.toml" }
$Config = (Resolve-Path $Config).ProviderPath
$wrapper = Join-Path $PSScriptRoot "run-daily.cmd"

# The output folder, resolved from the configuration as the toolkit resolves it.
$output = $null
$python = Join-Path $root ".venv\Scripts\python.exe"
if (Test-Path $python) {
    $said = & $python (Join-Path $PSScriptRoot "output_folder.py") $Config
    if ($LASTEXITCODE -eq 0 -and $said) { $output = @($said)[0] }
}
if (-not $output) {
    Write-Warning ("Could not read [output] folder from $Config (is the toolkit installed in " +
        "$root\.venv?); only the toolkit's folder and the configuration are checked for " +
        "network paths.")
}

function Get-NetworkKind([string]$Path) {
    if ($Path.StartsWith("\\")) { return "share" }
    $drive = [System.IO.Path]::GetPathRoot($Path)
    if (-not $drive) { return $null }
    $type = (New-Object System.IO.DriveInfo $drive).DriveType
    if ($type -eq [System.IO.DriveType]::Network) { return "mapped" }
    return $null
}

$places = [ordered]@{ "The toolkit's folder" = $root; "The configuration" = $Config }
if ($output) { $places["The output folder"] = $output }
foreach ($what in $places.Keys) {
    $path = $places[$what]
    $kind = Get-NetworkKind $path
    if ($kind -eq "mapped") {
        $letter = $path.Substring(0, 1)
        $unc = (Get-PSDrive -Name $letter -ErrorAction SilentlyContinue).DisplayRoot
        $hint = if ($unc) { " ($($letter): is $unc)" } else { "" }
        throw ("$what, $path, is on a mapped network drive: a scheduled task does not see " +
            "drive letters mapped at logon. Use the \\server\share\... path instead$hint, in " +
            "programs.toml too, then run this again with -WithPassword.")
    }
    if ($kind -eq "share" -and -not $WithPassword) {
        throw ("$what, $path, is on a network share: a task that stores no password (S4U) " +
            "cannot reach it. Run this again with -WithPassword.")
    }
}

$action = New-ScheduledTaskAction -Execute "cmd.exe" `
    -Argument "/d /c `"`"$wrapper`" `"$Config`"`"" -WorkingDirectory $root
$trigger = New-ScheduledTaskTrigger -Daily -At $At
# On battery too: by default a laptop on battery skips the run, and a run is stopped when the
# laptop is unplugged. No -RunOnlyIfNetworkAvailable: without a network the sync fails and
# says so in the logs, and the rosters and route sheets are still written from the last
# good sync.
$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -MultipleInstances IgnoreNew `
    -ExecutionTimeLimit (New-TimeSpan -Hours 2) -AllowStartIfOnBatteries `
    -DontStopIfGoingOnBatteries
$log = if ($output) { Join-Path $output "logs\run-daily.log" } else {
    "run-daily.log in the output folder's logs folder" }
$description = "Community Programs Toolkit: sync, rosters, confirmations and route sheets. " +
    "Exit code 0 = done, 1 = a step failed, 2 = bad setup, 3 = the previous run was still " +
    "going. What happened: $log (and tpd-programs.log beside it)."

if ($WithPassword) {
    # Logon type Password: the password is stored with the task, which can then use the
    # network as this account.
    $credential = Get-Credential -UserName $User -Message "Password of $User, stored with the task"
    Register-ScheduledTask -TaskName $TaskName -Description $description -Action $action `
        -Trigger $trigger -Settings $settings -User $User `
        -Password $credential.GetNetworkCredential().Password -RunLevel Limited -Force | Out-Null
} else {
    # S4U: runs whether or not the user is logged on, without storing a password, and
    # without network credentials.
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType S4U -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Description $description -Action $action `
        -Trigger $trigger -Settings $settings -Principal $principal -Force | Out-Null
}
Write-Host "Registered '$TaskName': every day at $At, $wrapper $Config"
Write-Host "Try it now with: Start-ScheduledTask -TaskName '$TaskName'"
Write-Host "Then look at the task's Last Run Result (0x0 = done) and at $log"
